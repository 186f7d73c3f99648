using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// MJMCP_PREVIEWS: inline (the default) puts the light preview in the tool result, which costs a download and a decode
/// of the provider's image per finished task; link puts a resource link there instead, and nothing is downloaded until a
/// client reads it.
/// </summary>
public sealed class PreviewModeTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("link")]
    public async Task InlineDownloadsTheImageOnTheCallLinkOnlyWhenTheLinkIsRead(string? mode)
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "mode-key", CandidateSize = 64, Timing = SandboxTiming.Instant });
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_PREVIEWS"] = mode });
        var imagine = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a harbour at night" });
        Assert.False(imagine.IsError == true, ServerProcess.Text(imagine));
        var task = imagine.StructuredContent!.Value;
        var id = task.GetProperty("task_id").GetString()!;
        Assert.Equal("finished", task.GetProperty("state").GetString());

        if (mode is null)
        {
            var inline = Assert.Single(imagine.Content.OfType<ImageContentBlock>());
            Assert.Equal("image/jpeg", inline.MimeType);
            Assert.Empty(imagine.Content.OfType<ResourceLinkBlock>());
            Assert.Equal(1, sandbox.Counters.Requests("/images"));
            return;
        }

        // link: no image in the result and no download yet; the link names the preview resource.
        Assert.Empty(imagine.Content.OfType<ImageContentBlock>());
        var link = Assert.Single(imagine.Content.OfType<ResourceLinkBlock>());
        Assert.Equal($"mj://tasks/{id}/preview.png", link.Uri);
        Assert.Equal("image/jpeg", link.MimeType);
        Assert.Equal(0, sandbox.Counters.Requests("/images"));

        // Reading it makes the preview then (one download of the grid), within 512 px.
        var read = await server.Client.ReadResourceAsync(link.Uri);
        var blob = Assert.IsType<BlobResourceContents>(Assert.Single(read.Contents));
        Assert.Equal("image/jpeg", blob.MimeType);
        Assert.True(Math.Max(PngCodec.Decode(blob.DecodedData.Span).Width, PngCodec.Decode(blob.DecodedData.Span).Height) <= 512);
        Assert.Equal(1, sandbox.Counters.Requests("/images"));

        // wait_task and the child's result follow the same mode.
        var again = await server.CallAsync("wait_task", new JsonObject { ["task_id"] = id });
        Assert.Empty(again.Content.OfType<ImageContentBlock>());
        Assert.Single(again.Content.OfType<ResourceLinkBlock>());
        var pick = await server.CallAsync("upscale_1x", new JsonObject { ["parent_task_id"] = id, ["index"] = 2 });
        Assert.False(pick.IsError == true, ServerProcess.Text(pick));
        Assert.Empty(pick.Content.OfType<ImageContentBlock>());
        Assert.EndsWith("/preview.png", Assert.Single(pick.Content.OfType<ResourceLinkBlock>()).Uri, StringComparison.Ordinal);
    }
}
