using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Rules;
using ModelContextProtocol.Protocol;

namespace MjMcp.Server.Tests;

/// <summary>
/// Every tool — generated and built-in — checks its arguments the same strict way before any request: unknown names,
/// types, ranges, control characters; numbers travel in the spec's wire type (2.0 → "2"), 2.5 is refused.
/// </summary>
public sealed class StrictArgumentTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public StrictArgumentTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public void NumbersAreNormalisedToTheWireTypeOfTheSpec()
    {
        var upscale = MidjourneySpec.Rules.Operations.Single(o => o.ToolName == "upscale_1x").Forms[0];
        Assert.True(upscale.Params.Single(p => p.Wire == "index").WireAsString);
        foreach (var sent in new[] { "2.0", "2", "\"2\"", "\"2.0\"", "2e0" })
        {
            using var body = ToolArguments.Body(upscale, Args($$"""{"parent_task_id":"t-1","index":{{sent}}}"""));
            Assert.Equal("""{"index":"2"}""", body.RootElement.GetRawText());
        }

        // Not a whole number: left as sent, for the check to refuse.
        using (var half = ToolArguments.Body(upscale, Args("""{"index":2.5}""")))
        {
            Assert.Equal("""{"index":2.5}""", half.RootElement.GetRawText());
            Assert.Contains("whole number", Assert.Single(RuleValidator.ValidateParams(upscale, [], half.RootElement)).Message, StringComparison.Ordinal);
        }

        var outpaint = MidjourneySpec.Rules.Operations.Single(o => o.ToolName == "outpaint").Forms[0];
        using var zoom = ToolArguments.Body(outpaint, Args("""{"zoom_ratio":"1.50"}"""));
        Assert.Equal(1.5, zoom.RootElement.GetProperty("zoom_ratio").GetDouble());
        Assert.Equal(JsonValueKind.Number, zoom.RootElement.GetProperty("zoom_ratio").ValueKind);
    }

    [Fact]
    public async Task BadArgumentsOfEveryToolAreRefusedBeforeAnyRequest()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var grid = (await server.OkAsync("imagine", new JsonObject { ["prompt"] = "strict base" })).GetProperty("task_id").GetString()!;

        // index 2.0 (Python's json.dumps(2.0)) is the integer 2: accepted, and sent as "2" (the sandbox, like the
        // provider, refuses "2.0").
        var accepted = _fixture.Sandbox.Counters.AcceptedSubmissions;
        var two = JsonNode.Parse("2.0")!;
        Assert.Equal("2.0", two.ToJsonString());
        var upscaled = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = two });
        Assert.Equal("upscaled", upscaled.GetProperty("stage").GetString());
        Assert.Equal(accepted + 1, _fixture.Sandbox.Counters.AcceptedSubmissions);
        var listed = await server.OkAsync("list_tasks", new JsonObject { ["limit"] = JsonNode.Parse("1.0") });
        Assert.Single(listed.GetProperty("tasks").EnumerateArray());
        await server.OkAsync("wait_task", new JsonObject { ["task_id"] = grid, ["wait_seconds"] = "0" });
        await server.OkAsync("account", []);

        var requests = _fixture.Sandbox.Counters.TotalRequests;
        var bad = new (string Tool, JsonObject Args, string Code, string Says)[]
        {
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 2.5 }, "invalid_argument", "whole number"),
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 2, ["wait_seconds"] = 300 }, "invalid_argument", $"from 0 to {ToolLimits.WaitSecondsMax}"),
            ("imagine", new JsonObject { ["prompt"] = "ok", ["wait_seconds"] = "abc" }, "invalid_argument", "wait_seconds"),
            ("fetch_task", new JsonObject { ["task_id"] = grid, ["verbose"] = true }, "unknown_argument", "verbose"),
            ("fetch_task", [], "missing_argument", "task_id"),
            ("fetch_task", new JsonObject { ["task_id"] = 7 }, "invalid_argument", "must be a string"),
            ("fetch_task", new JsonObject { ["task_id"] = "  " }, "invalid_argument", "must not be empty"),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["wait_seconds"] = "abc" }, "invalid_argument", "wait_seconds"),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["wait_seconds"] = ToolLimits.WaitSecondsMax + 1 }, "invalid_argument", "out of range"),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["wait_seconds"] = -1 }, "invalid_argument", "out of range"),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["wait_seconds"] = 1.5 }, "invalid_argument", "whole number"),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["timeout"] = 5 }, "unknown_argument", "timeout"),
            ("wait_task", new JsonObject { ["wait_seconds"] = 5 }, "missing_argument", "task_id"),
            ("list_tasks", new JsonObject { ["limit"] = 0 }, "invalid_argument", "out of range"),
            ("list_tasks", new JsonObject { ["limit"] = -5 }, "invalid_argument", "out of range"),
            ("list_tasks", new JsonObject { ["limit"] = ToolLimits.ListLimitMax + 1 }, "invalid_argument", "out of range"),
            ("list_tasks", new JsonObject { ["limit"] = "many" }, "invalid_argument", "must be a number"),
            ("list_tasks", new JsonObject { ["stage"] = "bogus" }, "invalid_argument", "must be one of"),
            ("list_tasks", new JsonObject { ["stage"] = 3 }, "invalid_argument", "must be one of"),
            ("list_tasks", new JsonObject { ["sort"] = "newest" }, "unknown_argument", "sort"),
            ("account", new JsonObject { ["verbose"] = true }, "unknown_argument", "no arguments"),
        };
        foreach (var (tool, args, code, says) in bad)
        {
            var error = Refused(await server.CallAsync(tool, args), $"{tool} {args.ToJsonString()}");
            Assert.Equal(code, error.GetProperty("code").GetString());
            Assert.Contains(says, error.GetProperty("message").GetString(), StringComparison.Ordinal);
        }

        // A refusal of a bad range names the allowed values; a stage refusal lists the stages.
        var limit = Refused(await server.CallAsync("list_tasks", new JsonObject { ["limit"] = 0 }), "limit 0");
        Assert.Contains($"from {ToolLimits.ListLimitMin} to {ToolLimits.ListLimitMax}", limit.GetProperty("message").GetString(), StringComparison.Ordinal);
        var stage = Refused(await server.CallAsync("list_tasks", new JsonObject { ["stage"] = "bogus" }), "stage bogus");
        Assert.Contains("grid", stage.GetProperty("fix").GetProperty("choices").GetProperty("stage").EnumerateArray().Select(e => e.GetString()));
        var missing = Refused(await server.CallAsync("fetch_task", []), "no task_id");
        Assert.Equal("list_tasks", missing.GetProperty("fix").GetProperty("tool").GetString());
        Assert.Equal(requests, _fixture.Sandbox.Counters.TotalRequests);

        // An unknown argument's fix is the same call without it, and it runs as written.
        foreach (var (tool, args) in new (string, JsonObject)[]
        {
            ("fetch_task", new JsonObject { ["task_id"] = grid, ["verbose"] = true }),
            ("wait_task", new JsonObject { ["task_id"] = grid, ["timeout"] = 5, ["wait_seconds"] = 0 }),
            ("account", new JsonObject { ["verbose"] = true }),
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 1, ["style"] = "raw" }),
            ("seed", new JsonObject { ["parent_task_id"] = grid }), // misnamed: the fix moves the value to task_id
        })
        {
            var fix = Refused(await server.CallAsync(tool, args), $"{tool} {args.ToJsonString()}").GetProperty("fix");
            Assert.Equal(tool, fix.GetProperty("tool").GetString());
            var fixedArgs = JsonNode.Parse(fix.GetProperty("arguments").GetRawText())!.AsObject();
            Assert.Equal(tool == "seed" ? 1 : args.Count - 1, fixedArgs.Count);
            await server.OkAsync(tool, fixedArgs);
        }
    }

    [Fact]
    public async Task ControlCharactersAreRefusedWithTheCleanedTextAndNothingIsSent()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var requests = _fixture.Sandbox.Counters.TotalRequests;
        foreach (var (tool, name, value) in new[]
        {
            ("imagine", "prompt", "a red fox\0 in snow"),
            ("imagine", "prompt", "a red fox \u001b[31min snow"),
            ("imagine", "prompt", "a red fox\u007f"),
            ("fetch_task", "task_id", "task\u0007id"),
            ("list_tasks", "parent_task_id", "p\u0001"),
        })
        {
            var error = Refused(await server.CallAsync(tool, new JsonObject { [name] = value }), $"{tool} {name}");
            Assert.Equal("invalid_argument", error.GetProperty("code").GetString());
            Assert.Contains("control character", error.GetProperty("message").GetString(), StringComparison.Ordinal);
            var cleaned = error.GetProperty("fix").GetProperty("arguments").GetProperty(name).GetString()!;
            Assert.DoesNotContain(cleaned, c => ToolArguments.IsRefusedControl(c));
            Assert.Equal(tool, error.GetProperty("fix").GetProperty("tool").GetString());
        }

        var inList = Refused(await server.CallAsync("blend", new JsonObject { ["image_urls"] = new JsonArray("http://127.0.0.1:9/a.png", "http://127.0.0.1:9/b\0.png") }), "blend");
        Assert.Equal("invalid_argument", inList.GetProperty("code").GetString());
        Assert.Equal(requests, _fixture.Sandbox.Counters.TotalRequests);

        // Tab, line feed and carriage return are ordinary text.
        var accepted = _fixture.Sandbox.Counters.AcceptedSubmissions;
        await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a red fox\r\nin snow\t--ar 1:1" });
        Assert.Equal(accepted + 1, _fixture.Sandbox.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task SchemasCarryTheLimitsTheChecksUse()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var tools = (await server.Client.ListToolsAsync()).ToDictionary(t => t.Name, t => t.ProtocolTool.InputSchema);
        foreach (var (name, schema) in tools.Where(t => t.Value.GetProperty("properties").TryGetProperty("wait_seconds", out _)))
        {
            var wait = schema.GetProperty("properties").GetProperty("wait_seconds");
            Assert.True(ToolLimits.WaitSecondsMin == wait.GetProperty("minimum").GetInt32(), name);
            Assert.True(ToolLimits.WaitSecondsMax == wait.GetProperty("maximum").GetInt32(), name);
        }

        Assert.True(tools["imagine"].GetProperty("properties").TryGetProperty("wait_seconds", out _));
        var limit = tools["list_tasks"].GetProperty("properties").GetProperty("limit");
        Assert.Equal(ToolLimits.ListLimitMin, limit.GetProperty("minimum").GetInt32());
        Assert.Equal(ToolLimits.ListLimitMax, limit.GetProperty("maximum").GetInt32());
        Assert.False(tools["account"].GetProperty("additionalProperties").GetBoolean());
        Assert.Equal("task_id", Assert.Single(tools["fetch_task"].GetProperty("required").EnumerateArray()).GetString());
    }

    private static Dictionary<string, JsonElement> Args(string json) =>
        JsonDocument.Parse(json).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());

    private static JsonElement Refused(CallToolResult result, string what)
    {
        Assert.True(result.IsError == true, $"{what} was accepted: {ServerProcess.Text(result)}");
        var error = result.StructuredContent!.Value.GetProperty("error");
        Assert.StartsWith(error.GetProperty("message").GetString()!, ServerProcess.Text(result), StringComparison.Ordinal);
        return error;
    }
}
