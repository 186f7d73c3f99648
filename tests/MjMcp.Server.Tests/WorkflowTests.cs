using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;

namespace MjMcp.Server.Tests;

/// <summary>End-to-end over stdio with the C# MCP client: tools/list, the full workflow, progress, images.</summary>
public sealed class WorkflowTests : IClassFixture<SandboxFixture>
{
    private static readonly string[] GeneratedTools =
        ["imagine", "blend", "reroll", "variations", "upscale_1x", "upscale_alt", "upscale_highres", "outpaint", "inpaint", "pan", "seed", "describe", "faceswap", "shorten"];

    private readonly SandboxFixture _fixture;

    public WorkflowTests(SandboxFixture fixture) => _fixture = fixture;

    [Theory]
    [InlineData("2025-11-25")]
    [InlineData(null)]
    public async Task ToolsListShowsEveryToolWithSchemasAndAnnotations(string? protocol)
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox, protocolVersion: protocol);
        var tools = await server.Client.ListToolsAsync();
        var byName = tools.ToDictionary(t => t.Name, t => t.ProtocolTool);
        foreach (var name in GeneratedTools.Concat(["fetch_task", "wait_task", "list_tasks", "account"]))
        {
            Assert.True(byName.ContainsKey(name), $"missing tool {name}");
        }

        var pan = byName["pan"];
        Assert.Contains("upscaled", pan.Description, StringComparison.Ordinal);
        var required = pan.InputSchema.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).ToArray();
        Assert.Equal(["parent_task_id", "direction"], required);
        Assert.Equal(["up", "down", "left", "right"], pan.InputSchema.GetProperty("properties").GetProperty("direction").GetProperty("enum").EnumerateArray().Select(e => e.GetString()!));
        Assert.Equal(1, byName["upscale_1x"].InputSchema.GetProperty("properties").GetProperty("index").GetProperty("minimum").GetDouble());
        Assert.Equal(4, byName["upscale_1x"].InputSchema.GetProperty("properties").GetProperty("index").GetProperty("maximum").GetDouble());
        Assert.NotNull(pan.OutputSchema);
        Assert.False(pan.Annotations!.ReadOnlyHint);
        Assert.True(pan.Annotations.OpenWorldHint);
        Assert.True(byName["fetch_task"].Annotations!.ReadOnlyHint);
        Assert.True(byName["list_tasks"].Annotations!.ReadOnlyHint);
        Assert.False(byName["list_tasks"].Annotations!.OpenWorldHint);
    }

    [Fact]
    public async Task FullWorkflowRunsThroughTheToolsWithNextActionsAndPreviews()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var imagine = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse at dusk" });
        Assert.False(imagine.IsError == true, ServerProcess.Text(imagine));
        var grid = imagine.StructuredContent!.Value;
        Assert.Equal("grid", grid.GetProperty("stage").GetString());
        Assert.Equal("finished", grid.GetProperty("state").GetString());
        Assert.Equal(4, grid.GetProperty("images").GetArrayLength());
        Assert.Equal([1, 2, 3, 4], grid.GetProperty("images").EnumerateArray().Select(i => i.GetProperty("index").GetInt32()));
        var preview = Assert.Single(imagine.Content.OfType<ImageContentBlock>());
        Assert.Equal("image/jpeg", preview.MimeType);
        var decoded = PngCodec.Decode(preview.DecodedData.Span);
        Assert.True(decoded.Width <= 512 && decoded.Height <= 512 && decoded.Width > 0);
        var nextTools = grid.GetProperty("next_actions").EnumerateArray().Select(a => a.GetProperty("tool").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "upscale_1x", "variations", "reroll", "seed" }, nextTools);
        Assert.DoesNotContain("pan", nextTools);

        var gridId = grid.GetProperty("task_id").GetString()!;
        var pick = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 2 });
        Assert.Equal("upscaled", pick.GetProperty("stage").GetString());
        Assert.Equal(gridId, pick.GetProperty("parent_task_id").GetString());
        var pickTools = pick.GetProperty("next_actions").EnumerateArray().Select(a => a.GetProperty("tool").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "pan", "outpaint", "inpaint", "variations", "upscale_alt", "upscale_highres", "seed" }, pickTools);

        var panned = await server.OkAsync("pan", new JsonObject { ["parent_task_id"] = pick.GetProperty("task_id").GetString(), ["direction"] = "left" });
        Assert.Equal("grid", panned.GetProperty("stage").GetString());
        var pick2 = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = panned.GetProperty("task_id").GetString(), ["index"] = "1" });
        var alt = await server.OkAsync("upscale_alt", new JsonObject { ["parent_task_id"] = pick2.GetProperty("task_id").GetString(), ["type"] = "subtle" });
        Assert.Equal("hires", alt.GetProperty("stage").GetString());
        Assert.DoesNotContain(alt.GetProperty("next_actions").EnumerateArray(), a => a.GetProperty("tool").GetString() is "upscale_alt" or "pan");

        var listed = await server.OkAsync("list_tasks", new JsonObject { ["stage"] = "grid" });
        Assert.Equal(2, listed.GetProperty("tasks").GetArrayLength());
        var children = await server.OkAsync("list_tasks", new JsonObject { ["parent_task_id"] = gridId });
        Assert.Equal(pick.GetProperty("task_id").GetString(), Assert.Single(children.GetProperty("tasks").EnumerateArray()).GetProperty("task_id").GetString());
        var seed = await server.OkAsync("seed", new JsonObject { ["task_id"] = gridId });
        Assert.False(string.IsNullOrEmpty(seed.GetProperty("result").GetProperty("seed").GetString()));
    }

    [Fact]
    public async Task EveryListedNextActionIsAcceptedAsListed()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "next actions check" });
        var upscaled = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid.GetProperty("task_id").GetString(), ["index"] = 4 });
        foreach (var task in new[] { grid, upscaled })
        {
            foreach (var action in task.GetProperty("next_actions").EnumerateArray())
            {
                var args = new JsonObject();
                foreach (var argument in action.GetProperty("arguments").EnumerateObject())
                {
                    args[argument.Name] = argument.Value.GetString();
                }

                foreach (var choice in action.GetProperty("choices").EnumerateObject())
                {
                    args[choice.Name] = JsonNode.Parse(choice.Value[choice.Value.GetArrayLength() - 1].GetRawText());
                }

                foreach (var need in action.GetProperty("needs").EnumerateObject())
                {
                    Assert.Equal("mask", need.Name);
                    args[need.Name] = TestImages.MaskBase64();
                }

                var tool = action.GetProperty("tool").GetString()!;
                var result = await server.CallAsync(tool, args);
                Assert.False(result.IsError == true, $"{tool} {args.ToJsonString()} was refused: {ServerProcess.Text(result)}");
            }
        }
    }

    [Fact]
    public async Task ProgressNotificationsArriveForTheCallersToken()
    {
        await using var sandbox = await MjMcp.Sandbox.SandboxServer.StartAsync(new MjMcp.Sandbox.SandboxOptions
        {
            ApiKey = "progress-key",
            Timing = new MjMcp.Sandbox.SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(3)),
        });
        await using var server = await ServerProcess.StartAsync(sandbox);
        var token = new ProgressToken("progress-" + Guid.NewGuid().ToString("N"));
        var seen = new List<ModelContextProtocol.ProgressNotificationValue>();
        await using var handler = server.Client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
        {
            var value = JsonSerializer.Deserialize<ProgressNotificationParams>(notification.Params, ModelContextProtocol.McpJsonUtilities.DefaultOptions)!;
            if (value.ProgressToken == token)
            {
                lock (seen)
                {
                    seen.Add(value.Progress);
                }
            }

            return default;
        });
        var result = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "slow harbour" }, progressToken: token);
        Assert.False(result.IsError == true, ServerProcess.Text(result));
        await Task.Delay(200);
        lock (seen)
        {
            Assert.True(seen.Count >= 2, $"only {seen.Count} progress notifications");
            Assert.All(seen, v => Assert.Equal(100, v.Total));
            Assert.Equal(seen.Select(v => v.Progress).Order(), seen.Select(v => v.Progress));
        }
    }

    [Fact]
    public async Task EmbeddedSandboxServesWithNoConfiguration()
    {
        await using var server = await ServerProcess.StartAsync(sandbox: null);
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a quiet embedded sandbox" });
        Assert.Equal("grid", grid.GetProperty("stage").GetString());
        Assert.Contains(server.Stderr, line => line.Contains("embedded sandbox", StringComparison.Ordinal));
    }

    [Fact]
    public async Task AModerationFailureSurfacesAtOnceWithTheReason()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var result = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a forbidden garden" });
        Assert.True(result.IsError);
        var task = result.StructuredContent!.Value;
        Assert.Equal("failed", task.GetProperty("state").GetString());
        Assert.Contains("forbidden", task.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("moderation", ServerProcess.Text(result), StringComparison.Ordinal);
        var failedId = task.GetProperty("task_id").GetString();
        var refused = await server.CallAsync("upscale_1x", new JsonObject { ["parent_task_id"] = failedId, ["index"] = 1 });
        Assert.Equal("parent_failed", refused.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());
    }
}
