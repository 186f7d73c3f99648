using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MjMcp.Server;

/// <summary>
/// An MCP tool made from a definition and a handler, with no reflection: its schema comes from the
/// generator (spec tools) or from a constant (built-in tools). NativeAOT-safe.
/// </summary>
public sealed class SpecTool : McpServerTool
{
    private static readonly JsonElement OutputSchemaElement = JsonDocument.Parse(OutputSchemas.Task).RootElement.Clone();
    private readonly Func<RequestContext<CallToolRequestParams>, CancellationToken, ValueTask<CallToolResult>> _handler;

    /// <summary>Creates a tool; its output schema is the task schema unless <paramref name="outputSchema"/> gives its own.</summary>
    public SpecTool(string name, string title, string description, string inputSchema, bool readOnly, bool idempotent, bool openWorld, Func<RequestContext<CallToolRequestParams>, CancellationToken, ValueTask<CallToolResult>> handler, string? outputSchema = null)
    {
        _handler = handler;
        ProtocolTool = new Tool
        {
            Name = name,
            Title = title,
            Description = description,
            InputSchema = JsonDocument.Parse(inputSchema).RootElement.Clone(),
            OutputSchema = outputSchema is null ? OutputSchemaElement : JsonDocument.Parse(outputSchema).RootElement.Clone(),
            Annotations = new ToolAnnotations
            {
                Title = title,
                ReadOnlyHint = readOnly,
                DestructiveHint = false,
                IdempotentHint = idempotent,
                OpenWorldHint = openWorld,
            },
        };
    }

    /// <inheritdoc/>
    public override Tool ProtocolTool { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<object> Metadata { get; } = [];

    /// <inheritdoc/>
    public override ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken = default) =>
        _handler(request, cancellationToken);
}
