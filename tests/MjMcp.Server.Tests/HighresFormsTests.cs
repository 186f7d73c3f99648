using System.Text.Json.Nodes;

namespace MjMcp.Server.Tests;

/// <summary>
/// upscale_highres as the provider documents it: an upscale_1x image, one image of a grid (index 1-4), or an image by
/// URL — exactly one of parent_task_id and image_url. upscale_alt keeps the seed's rule (only upscale_1x output).
/// </summary>
public sealed class HighresFormsTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public HighresFormsTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task EveryFormMakesAHiresImageAndBadCombinationsSendNothing()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse at dusk" });
        var gridId = grid.GetProperty("task_id").GetString()!;
        Assert.Contains(grid.GetProperty("next_actions").EnumerateArray(), a => a.GetProperty("tool").GetString() == "upscale_highres");

        // One image of a grid, with its index.
        var fromGrid = await server.OkAsync("upscale_highres", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 3, ["type"] = "2x" });
        Assert.Equal("hires", fromGrid.GetProperty("stage").GetString());

        // An upscale_1x image, as before.
        var pick = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 1 });
        var fromPick = await server.OkAsync("upscale_highres", new JsonObject { ["parent_task_id"] = pick.GetProperty("task_id").GetString(), ["type"] = "4x" });
        Assert.Equal("hires", fromPick.GetProperty("stage").GetString());

        // An image by URL (the sandbox's own image of the upscale).
        var url = pick.GetProperty("images").EnumerateArray().First().GetProperty("url").GetString();
        var fromUrl = await server.OkAsync("upscale_highres", new JsonObject { ["image_url"] = url, ["type"] = "2x" });
        Assert.Equal("hires", fromUrl.GetProperty("stage").GetString());

        var before = _fixture.Sandbox.Counters.AcceptedSubmissions;
        async Task<string> RefusedAsync(JsonObject args)
        {
            var result = await server.CallAsync("upscale_highres", args);
            Assert.True(result.IsError, ServerProcess.Text(result));
            return result.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString()!;
        }

        Assert.Equal("conflicting_arguments", await RefusedAsync(new JsonObject { ["parent_task_id"] = gridId, ["image_url"] = url, ["type"] = "2x", ["index"] = 1 }));
        Assert.Equal("missing_parent", await RefusedAsync(new JsonObject { ["type"] = "2x" }));
        Assert.Equal("invalid_argument", await RefusedAsync(new JsonObject { ["parent_task_id"] = gridId, ["type"] = "2x" }));

        // upscale_alt still takes only upscale_1x output.
        var alt = await server.CallAsync("upscale_alt", new JsonObject { ["parent_task_id"] = gridId, ["type"] = "subtle" });
        Assert.True(alt.IsError);
        Assert.Equal(before, _fixture.Sandbox.Counters.AcceptedSubmissions);

        // The conflict's fix keeps the named parent and drops image_url; it runs as written.
        var conflict = await server.CallAsync("upscale_highres", new JsonObject { ["parent_task_id"] = gridId, ["image_url"] = url, ["type"] = "2x", ["index"] = 1 });
        var fix = conflict.StructuredContent!.Value.GetProperty("error").GetProperty("fix");
        var fixedArgs = JsonNode.Parse(fix.GetProperty("arguments").GetRawText())!.AsObject();
        Assert.False(fixedArgs.ContainsKey("image_url"));
        Assert.Equal("hires", (await server.OkAsync(fix.GetProperty("tool").GetString()!, fixedArgs)).GetProperty("stage").GetString());
    }
}
