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
