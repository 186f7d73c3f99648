using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>A tool generated from the spec: the operation it submits and its MCP face.</summary>
/// <param name="Operation">The operation rule from the spec.</param>
/// <param name="Name">The MCP tool name (snake_case).</param>
/// <param name="Title">A human title.</param>
/// <param name="Description">What it does, the parent it needs and what it returns.</param>
/// <param name="InputSchema">The JSON schema of its arguments.</param>
/// <param name="ReadOnly">Whether it only reads.</param>
/// <param name="Idempotent">Whether repeating it changes nothing more.</param>
/// <param name="OpenWorld">Whether it reaches the provider.</param>
public sealed record ToolDefinition(
    OperationRule Operation,
    string Name,
    string Title,
    string Description,
    string InputSchema,
    bool ReadOnly,
    bool Idempotent,
    bool OpenWorld);

/// <summary>
/// What a server serves, made by the generator from a spec: the rule table and one tool definition per
/// operation. The generated <c>MidjourneyToolDefinitions.Spec</c> is one; pass it to
/// <see cref="MjMcpServerRegistration.AddMjMcpServer"/>.
/// </summary>
/// <param name="Rules">The spec's rule table.</param>
/// <param name="Tools">The generated tools, in spec order.</param>
public sealed record McpSpec(SpecRules Rules, IReadOnlyList<ToolDefinition> Tools);
