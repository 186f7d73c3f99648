using Microsoft.Extensions.Logging.Abstractions;
using MjMcp.Imaging;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Issue 11: the embedded sandbox makes each image's light preview once, from the pixels it has just rendered, and hands
/// it to the server in process. It must be exactly the preview the server makes from the PNG over HTTP (a real
/// provider's path, kept), and a URL the sandbox does not own still goes over HTTP.
/// </summary>
public sealed class EmbeddedPreviewTests
{
    [Fact]
    public async Task TheSandboxHandsOverExactlyThePreviewTheServerWouldMakeFromThePng()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "preview-key" });
        using var http = new HttpClient();
        var mj = new MidjourneyClient(http, new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = "preview-key" });
        var grid = await mj.ImagineAsync("a lighthouse at dusk, stormy sea").WaitAsync();
        var pick = await mj.Upscale1xAsync(grid, 2).WaitAsync();
        var gridUrl = grid.ImageUrls[0].Replace("/1.png", "/grid.png", StringComparison.Ordinal);
        var upscaledUrl = pick.ImageUrls[0];

        // Full size (1024-px candidates, a 2048² grid): the same bytes as made from the downloaded PNG.
        var gridPng = await http.GetByteArrayAsync(new Uri(gridUrl));
        Assert.Equal((2048, 2048), PngCodec.ReadSize(gridPng));
        var numbered = PreviewService.Make(gridPng, grid: true);
        Assert.Equal(numbered, sandbox.TryReadPreview(new Uri(gridUrl), numbered: true));
        Assert.True(numbered.Length <= PreviewService.MaxBytes);
        Assert.Equal(PreviewService.Make(await http.GetByteArrayAsync(new Uri(upscaledUrl)), grid: false), sandbox.TryReadPreview(new Uri(upscaledUrl), numbered: false));

        // What it did not make, or does not own, is null: the caller makes it the usual way.
        Assert.Null(sandbox.TryReadPreview(new Uri(gridUrl), numbered: false));
        Assert.Null(sandbox.TryReadPreview(new Uri(grid.ImageUrls[0]), numbered: false));
        Assert.Null(sandbox.TryReadPreview(new Uri(gridUrl.Replace(sandbox.BaseUrl.Authority, "example.com", StringComparison.Ordinal)), numbered: true));
        Assert.Null(sandbox.TryReadPreview(new Uri(sandbox.BaseUrl, "images/no-such-task/grid.png"), numbered: true));
        Assert.Null(sandbox.TryReadPreview(new Uri(sandbox.BaseUrl, "images/../../etc/passwd"), numbered: true));

        // A PreviewService given the hook takes it without a request; an image the sandbox does not own is downloaded.
        var requests = 0;
        using var counting = new HttpClient(new Responder(gridPng, () => Interlocked.Increment(ref requests)));
        var previews = new PreviewService(counting, NullLogger<PreviewService>.Instance, null, null, sandbox.TryReadPreview);
        Assert.Equal(numbered, await previews.TryGetAsync(gridUrl, "grid-task", true, CancellationToken.None));
        Assert.Equal(0, requests);
        Assert.Equal(numbered, await previews.TryGetAsync("http://cdn.example.com/grid.png", "provider-task", true, CancellationToken.None));
        Assert.Equal(1, requests);
    }

    private sealed class Responder(byte[] body, Action counted) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            counted();
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = new ByteArrayContent(body) });
        }
    }
}
