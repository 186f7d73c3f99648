using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;

namespace MjMcp.Server.Tests;

/// <summary>Resources (tasks as JSON, previews as JPEG) and the workflow prompt.</summary>
public sealed class ResourceTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public ResourceTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task TasksAndPreviewsAreResourcesAndThePromptTeachesTheWorkflow()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var templates = await server.Client.ListResourceTemplatesAsync();
        Assert.Contains(templates, t => t.UriTemplate == "mj://tasks/{id}");
        Assert.Contains(templates, t => t.UriTemplate == "mj://tasks/{id}/preview.png");

        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "resource check" });
        var id = grid.GetProperty("task_id").GetString()!;
        var pick = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = id, ["index"] = 1 });

        var read = await server.Client.ReadResourceAsync($"mj://tasks/{pick.GetProperty("task_id").GetString()}");
        var text = Assert.IsType<TextResourceContents>(Assert.Single(read.Contents));
        Assert.Equal("application/json", text.MimeType);
        using var json = JsonDocument.Parse(text.Text);
        Assert.Equal("upscaled", json.RootElement.GetProperty("stage").GetString());
        Assert.Equal(id, json.RootElement.GetProperty("parent_task_id").GetString());
        Assert.Contains(json.RootElement.GetProperty("next_actions").EnumerateArray(), a => a.GetProperty("tool").GetString() == "pan");

        var preview = await server.Client.ReadResourceAsync($"mj://tasks/{id}/preview.png");
        var blob = Assert.IsType<BlobResourceContents>(Assert.Single(preview.Contents));
        Assert.Equal("image/jpeg", blob.MimeType);
        var image = PngCodec.Decode(blob.DecodedData.Span);
        Assert.Equal((512, 512), (image.Width, image.Height));

        await Assert.ThrowsAnyAsync<Exception>(async () => await server.Client.ReadResourceAsync("mj://tasks/unknown-task"));

        var prompt = await server.Client.GetPromptAsync("midjourney_workflow");
        var message = Assert.IsType<TextContentBlock>(Assert.Single(prompt.Messages).Content);
        Assert.Contains("upscale_1x", message.Text, StringComparison.Ordinal);
        Assert.Contains("next_actions", message.Text, StringComparison.Ordinal);
    }
}
