using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MjMcp.Server;

/// <summary>
/// Answers a malformed request with -32602 (invalid params) and a message naming the fix, before the SDK tries to
/// read it: otherwise a params shape it cannot deserialize (tools/call with "arguments": [1,2], no "name", a bogus
/// logging level) ends as -32603 "An error occurred.". Hand-written: the SDK has no hook between the raw message
/// and its typed deserialization other than this incoming message filter.
/// </summary>
internal static class ProtocolGuard
{
    /// <summary>The levels of logging/setLevel, as the protocol spells them.</summary>
    private static readonly string[] Levels = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

    /// <summary>The incoming message filter; <paramref name="onMessage"/> sees the server of every message first.</summary>
    public static McpMessageFilter Filter(Action<McpServer> onMessage) => next => async (context, cancellationToken) =>
    {
        onMessage(context.Server);
        if (context.JsonRpcMessage is JsonRpcRequest request && Problem(request.Method, request.Params) is { } problem)
        {
            // The server bound to this message routes the answer (the context is the transport's to set).
            var error = new JsonRpcError
            {
                Id = request.Id,
                Error = new JsonRpcErrorDetail { Code = (int)McpErrorCode.InvalidParams, Message = problem },
            };
            await context.Server.SendMessageAsync(error, cancellationToken).ConfigureAwait(false);
            return;
        }

        await next(context, cancellationToken).ConfigureAwait(false);
    };

    /// <summary>What is wrong with the params of a request, or null when their shape is right.</summary>
    public static string? Problem(string method, JsonNode? parameters)
    {
        switch (method)
        {
            case RequestMethods.ToolsCall:
                return NeedsObject(method, parameters, """{"name":"imagine","arguments":{"prompt":"a cat"}}""")
                    ?? NeedsString(method, parameters, "name", "the tool to call (tools/list shows them)")
                    ?? (parameters!["arguments"] is { } arguments && arguments is not JsonObject
                        ? $"tools/call needs 'arguments' to be a JSON object of argument names and values, like {{\"prompt\":\"a cat\"}}; got {Kind(arguments)}."
                        : null);
            case RequestMethods.ResourcesRead:
                return NeedsObject(method, parameters, """{"uri":"mj://tasks/<task_id>"}""")
                    ?? NeedsString(method, parameters, "uri", "the resource to read, like mj://tasks/<task_id>");
            case RequestMethods.PromptsGet:
                return NeedsObject(method, parameters, """{"name":"midjourney_workflow"}""")
                    ?? NeedsString(method, parameters, "name", "the prompt to get (prompts/list shows them)")
                    ?? (parameters!["arguments"] is { } promptArguments && promptArguments is not JsonObject
                        ? $"prompts/get needs 'arguments' to be a JSON object of strings; got {Kind(promptArguments)}."
                        : null);
#pragma warning disable MCP9005 // deprecated from 2026-07-28 on, still what 2025-11-25 clients send (see ClientLogForwarder)
            case RequestMethods.LoggingSetLevel:
#pragma warning restore MCP9005
                {
                    var level = parameters is JsonObject o && o["level"] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
                    return level is not null && Levels.Contains(level, StringComparer.Ordinal)
                        ? null
                        : $"logging/setLevel needs 'level', one of {string.Join(", ", Levels)}; got {(level is null ? Kind(parameters is JsonObject p ? p["level"] : null) : "'" + Cut(level) + "'")}.";
                }

            default:
                return null;
        }
    }

    private static string? NeedsObject(string method, JsonNode? parameters, string example) =>
        parameters is JsonObject ? null : $"{method} needs params as a JSON object, like {example}; got {Kind(parameters)}.";

    private static string? NeedsString(string method, JsonNode? parameters, string name, string what) =>
        parameters![name] is JsonValue value && value.TryGetValue<string>(out var text) && !string.IsNullOrWhiteSpace(text)
            ? null
            : $"{method} needs '{name}': {what}; got {Kind(parameters[name])}.";

    private static string Kind(JsonNode? node) => node switch
    {
        null => "nothing",
        JsonObject => "an object",
        JsonArray => "an array",
        JsonValue value when value.TryGetValue<string>(out var text) => text.Length == 0 ? "an empty string" : "'" + Cut(text) + "'",
        _ => node.ToJsonString(),
    };

    private static string Cut(string text)
    {
        var clean = string.Concat(text.Select(c => char.IsControl(c) ? "?" : c.ToString()));
        return clean.Length <= 40 ? clean : clean[..37] + "...";
    }
}
