using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;

namespace MjMcp.Server.Tests;

/// <summary>
/// Malformed requests get the JSON-RPC error a client can act on — -32602 (invalid params) or -32002 (resource not
/// found) with a message naming the fix — never -32603 "An error occurred.", and nothing reaches the provider.
/// </summary>
public sealed class ProtocolTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public ProtocolTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task MalformedRequestsAreInvalidParamsAndUnknownResourcesAreNotFound()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var before = _fixture.Sandbox.Counters.TotalRequests;

        var cases = new (string Method, string Params, string MessagePart)[]
        {
            ("tools/call", """{"name":"imagine","arguments":[1,2]}""", "arguments"),
            ("tools/call", """{"name":"fetch_task","arguments":"task-1"}""", "arguments"),
            ("tools/call", """{"arguments":{"prompt":"a cat"}}""", "name"),
            ("tools/call", """{"name":"","arguments":{}}""", "name"),
            ("tools/call", """{"name":"no_such_tool","arguments":{}}""", "no_such_tool"),
            ("resources/read", "{}", "uri"),
            ("resources/read", """{"uri":7}""", "uri"),
            ("logging/setLevel", """{"level":"bogus"}""", "debug"),
            ("logging/setLevel", "{}", "level"),
            ("prompts/get", "{}", "name"),
        };
        foreach (var (method, parameters, part) in cases)
        {
            var error = await ErrorOfAsync(server, method, parameters);
            Assert.True(McpErrorCode.InvalidParams == error.ErrorCode, $"{method} {parameters}: {(int)error.ErrorCode} {error.Message}");
            Assert.Contains(part, error.Message, StringComparison.Ordinal);
        }

        var unknown = await ErrorOfAsync(server, "resources/read", """{"uri":"mj://tasks/no-such-task"}""");
        Assert.True(McpErrorCode.ResourceNotFound == unknown.ErrorCode, $"{(int)unknown.ErrorCode} {unknown.Message}");
        Assert.Contains("list_tasks", unknown.Message, StringComparison.Ordinal);

        // The server still works after all of that, and none of it reached the provider.
        Assert.Equal(before, _fixture.Sandbox.Counters.TotalRequests);
        var tools = await server.Client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "fetch_task");
    }

    [Fact]
    public async Task UnknownResourceIsInvalidParamsOnTheNewestProtocolRevision()
    {
        // The 2026-07-28 revision reports an unresolvable resource as -32602; the SDK maps -32002 for it.
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox, protocolVersion: null);
        var unknown = await ErrorOfAsync(server, "resources/read", """{"uri":"mj://tasks/no-such-task"}""");
        Assert.True(unknown.ErrorCode is McpErrorCode.InvalidParams or McpErrorCode.ResourceNotFound, $"{(int)unknown.ErrorCode} {unknown.Message}");
        Assert.NotEqual(McpErrorCode.InternalError, unknown.ErrorCode);
    }

    private static async Task<McpProtocolException> ErrorOfAsync(ServerProcess server, string method, string parameters)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var request = new JsonRpcRequest { Method = method, Params = JsonNode.Parse(parameters) };
        return await Assert.ThrowsAsync<McpProtocolException>(async () => await server.Client.SendRequestAsync(request, timeout.Token));
    }
}
