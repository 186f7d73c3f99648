using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Rules;

namespace MjMcp.Server.Tests;

/// <summary>
/// Every operation × every parent stage it does not accept, plus bad values: each call is refused with a
/// fix, and the provider's accepted-submission counter does not move. No credit is spent on a call we knew was invalid.
/// </summary>
public sealed class RefusalMatrixTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public RefusalMatrixTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task IllegalCombinationsAreRefusedBeforeAnyRequest()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);

        // One finished task of every stage and result kind.
        var grid = Id(await server.OkAsync("imagine", new JsonObject { ["prompt"] = "matrix base" }));
        var gridImages = await server.OkAsync("fetch_task", new JsonObject { ["task_id"] = grid });
        var imageUrl = gridImages.GetProperty("images")[0].GetProperty("url").GetString()!;
        var upscaled = Id(await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 1 }));
        var hires = Id(await server.OkAsync("upscale_alt", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "creative" }));
        var image = Id(await server.OkAsync("faceswap", new JsonObject { ["target_image_url"] = imageUrl, ["swap_image_url"] = gridImages.GetProperty("images")[1].GetProperty("url").GetString() }));
        var seed = Id(await server.OkAsync("seed", new JsonObject { ["task_id"] = grid }));
        var variationGrid = Id(await server.OkAsync("variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = 2 }));
        var tasks = new Dictionary<string, string> { ["grid"] = grid, ["upscaled"] = upscaled, ["hires"] = hires, ["image"] = image, ["seed"] = seed };

        var before = _fixture.Sandbox.Counters.AcceptedSubmissions;
        var refusals = 0;
        foreach (var operation in MidjourneySpec.Rules.Operations.Where(o => o.NeedsParent))
        {
            var field = operation.Forms.First(f => f.Parent is not null).Parent!.Field;
            var accepted = operation.Forms.SelectMany(f => f.Parent?.Stages ?? []).ToHashSet();
            foreach (var (stage, taskId) in tasks.Where(t => !accepted.Contains(t.Key)))
            {
                var args = ValidArguments(operation.Forms[0]);
                args[field] = taskId;
                var result = await server.CallAsync(operation.ToolName, args);
                var error = AssertRefused(result, $"{operation.ToolName} on a {stage}");
                Assert.Equal("wrong_parent_stage", error.GetProperty("code").GetString());
                refusals++;
            }
        }

        // The mistakes people make most, with the fix the server names.
        var gridToPan = AssertRefused(await server.CallAsync("pan", new JsonObject { ["parent_task_id"] = grid, ["direction"] = "left" }), "pan on a grid");
        Assert.Equal("upscale_1x", gridToPan.GetProperty("fix").GetProperty("tool").GetString());
        Assert.Equal(grid, gridToPan.GetProperty("fix").GetProperty("arguments").GetProperty("parent_task_id").GetString());
        Assert.Equal([1, 2, 3, 4], gridToPan.GetProperty("fix").GetProperty("choices").GetProperty("index").EnumerateArray().Select(e => e.GetInt32()));
        var altOnAlt = AssertRefused(await server.CallAsync("upscale_alt", new JsonObject { ["parent_task_id"] = hires, ["type"] = "subtle" }), "upscale_alt on its own output");
        Assert.Equal("upscale_alt", altOnAlt.GetProperty("fix").GetProperty("tool").GetString());
        Assert.Equal(upscaled, altOnAlt.GetProperty("fix").GetProperty("arguments").GetProperty("parent_task_id").GetString());
        var rerollVariation = AssertRefused(await server.CallAsync("reroll", new JsonObject { ["parent_task_id"] = variationGrid }), "reroll of a variations grid");
        Assert.Contains("imagine", rerollVariation.GetProperty("message").GetString(), StringComparison.Ordinal);

        var bad = new (string Tool, JsonObject Args, string Code)[]
        {
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 0 }, "invalid_argument"),
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 5 }, "invalid_argument"),
            ("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = "two" }, "invalid_argument"),
            ("variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = 0 }, "invalid_argument"),
            ("variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = "strong" }, "invalid_argument"),
            ("variations", new JsonObject { ["parent_task_id"] = upscaled, ["index"] = 2 }, "invalid_argument"),
            ("pan", new JsonObject { ["parent_task_id"] = upscaled, ["direction"] = "sideways" }, "invalid_argument"),
            ("outpaint", new JsonObject { ["parent_task_id"] = upscaled, ["zoom_ratio"] = 3 }, "invalid_argument"),
            ("outpaint", new JsonObject { ["parent_task_id"] = upscaled, ["zoom_ratio"] = 0.5 }, "invalid_argument"),
            ("upscale_alt", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "4x" }, "invalid_argument"),
            ("upscale_highres", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "8x" }, "invalid_argument"),
            ("inpaint", new JsonObject { ["parent_task_id"] = upscaled, ["mask"] = "not an image" }, "invalid_argument"),
            ("imagine", new JsonObject { ["prompt"] = "" }, "invalid_argument"),
            ("imagine", new JsonObject { ["prompt"] = new string('x', 4001) }, "invalid_argument"),
            ("imagine", new JsonObject { ["prompt"] = "ok", ["aspect_ratio"] = "wide" }, "invalid_argument"),
            ("imagine", new JsonObject { ["prompt"] = "ok", ["webhook_url"] = "http://127.0.0.1/x" }, "unknown_argument"),
            ("blend", new JsonObject { ["image_urls"] = new JsonArray(imageUrl) }, "invalid_argument"),
            ("describe", new JsonObject { ["image_url"] = "file:///etc/passwd" }, "invalid_argument"),
            ("describe", new JsonObject { ["image_url"] = "http://user:secret@127.0.0.1/x.png" }, "invalid_argument"),
            ("pan", new JsonObject { ["direction"] = "left" }, "missing_parent"),
            ("pan", new JsonObject { ["parent_task_id"] = "no-such-task", ["direction"] = "left" }, "unknown_task"),
        };
        foreach (var (tool, args, code) in bad)
        {
            var error = AssertRefused(await server.CallAsync(tool, args), $"{tool} {args.ToJsonString()}");
            Assert.Equal(code, error.GetProperty("code").GetString());
        }

        var indexZero = AssertRefused(await server.CallAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 0 }), "index 0");
        Assert.Contains("1-based", indexZero.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(grid, indexZero.GetProperty("fix").GetProperty("arguments").GetProperty("parent_task_id").GetString());

        Assert.True(refusals >= 20, $"only {refusals} stage refusals were exercised");

        // The configured provider key never shows in a log line or a tool result.
        var key = _fixture.Sandbox.Options.ApiKey!;
        Assert.DoesNotContain(server.Stderr, line => line.Contains(key, StringComparison.Ordinal));
        Assert.DoesNotContain(Seen, text => text.Contains(key, StringComparison.Ordinal));
        Assert.Equal(before, _fixture.Sandbox.Counters.AcceptedSubmissions);
    }

    private static string Id(JsonElement task) => task.GetProperty("task_id").GetString()!;

    private static readonly System.Collections.Concurrent.ConcurrentBag<string> Seen = [];

    private static JsonElement AssertRefused(ModelContextProtocol.Protocol.CallToolResult result, string what)
    {
        Seen.Add(ServerProcess.Text(result) + result.StructuredContent?.GetRawText());
        Assert.True(result.IsError == true, $"{what} was accepted: {ServerProcess.Text(result)}");
        Assert.NotNull(result.StructuredContent);
        var error = result.StructuredContent!.Value.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()), what);
        Assert.StartsWith(error.GetProperty("message").GetString()!, ServerProcess.Text(result), StringComparison.Ordinal);
        return error;
    }

    /// <summary>Arguments that would be valid for a form (so only the parent is wrong).</summary>
    private static JsonObject ValidArguments(FormRule form)
    {
        var args = new JsonObject();
        foreach (var param in form.Params.Where(p => p.Required))
        {
            args[param.Wire] = param.Kind switch
            {
                ParamKind.Enum => param.Values[0],
                ParamKind.Int => (int)(param.Min ?? 1),
                ParamKind.Number => param.Min ?? 1,
                ParamKind.ImageData => TestImages.MaskBase64(),
                ParamKind.UrlList => new JsonArray("http://127.0.0.1:9/a.png", "http://127.0.0.1:9/b.png"),
                ParamKind.Url => "http://127.0.0.1:9/a.png",
                _ => "a prompt",
            };
        }

        return args;
    }
}
