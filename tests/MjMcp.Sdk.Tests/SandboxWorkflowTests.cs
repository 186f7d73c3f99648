using MjMcp.Imaging;
using MjMcp.Sandbox;
using MjMcp.Rules;

namespace MjMcp.Sdk.Tests;

/// <summary>The whole workflow through the generated SDK over real loopback HTTP against the sandbox.</summary>
public sealed class SandboxWorkflowTests
{
    [Fact]
    public async Task FullWorkflowThroughTheTypedClient()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "sdk-key" });
        using var http = new HttpClient();
        var mj = new MidjourneyClient(http, new MidjourneyOptions
        {
            BaseUrl = sandbox.BaseUrl,
            ApiKey = "sdk-key",
            AuthScheme = "Bearer",
            PollInitialDelay = TimeSpan.FromMilliseconds(50),
            PollMinInterval = TimeSpan.FromMilliseconds(50),
        });

        var grid = await mj.ImagineAsync("a lighthouse at dusk").WaitAsync();
        Assert.Equal(4, grid.ImageUrls.Count);
        var pick = await mj.Upscale1xAsync(grid, 2).WaitAsync();
        Assert.Equal((1024, 1024), await Size(http, pick.ImageUrl));
        var panned = await mj.PanAsync(pick, PanDirection.Left).WaitAsync();
        Assert.Equal((1536, 1024), await Size(http, panned.ImageUrls[0]));
        var pick2 = await mj.Upscale1xAsync(panned, 1).WaitAsync();
        var alt = await mj.UpscaleAltAsync(pick2, UpscaleAltMode.Subtle).WaitAsync();
        Assert.Equal((3072, 2048), await Size(http, alt.ImageUrl));

        var variations = await mj.VariationsAsync(grid, 3).WaitAsync();
        var strong = await mj.VariationsAsync(pick, VariationStrength.Strong).WaitAsync();
        Assert.Equal("variation-strong", strong.TaskType);
        Assert.Equal("variation-3", variations.TaskType);
        var blend = await mj.BlendAsync([grid.ImageUrls[0], grid.ImageUrls[1]], BlendDimension.Landscape).WaitAsync();
        Assert.Equal((1024, 768), await Size(http, blend.ImageUrls[0]));
        // upscale-highres in all three documented forms: an upscale-1x image, a grid image by index, an image by URL.
        var highFromPick = await mj.UpscaleHighresAsync(pick, HighresScale.Double).WaitAsync();
        var highFromGrid = await mj.UpscaleHighresAsync(grid, 4, HighresScale.Double).WaitAsync();
        var highFromUrl = await mj.UpscaleHighresAsync(pick.ImageUrl, HighresScale.Double).WaitAsync();
        Assert.Equal((2048, 2048), await Size(http, highFromPick.ImageUrl));
        Assert.Equal((2048, 2048), await Size(http, highFromGrid.ImageUrl));
        Assert.Equal((2048, 2048), await Size(http, highFromUrl.ImageUrl));

        var described = await mj.DescribeAsync(pick.ImageUrl).WaitAsync();
        Assert.Equal(4, described.Prompts.Count);
        var swapped = await mj.FaceswapAsync(pick.ImageUrl, grid.ImageUrls[3]).WaitAsync();
        Assert.Equal("image", swapped.Stage);
        var seed = await mj.SeedAsync(grid).WaitAsync();
        Assert.True(long.TryParse(seed.Seed, out _));
        var shortened = await mj.ShortenAsync("a very beautiful lighthouse at dusk with amazing light").WaitAsync();
        Assert.NotEmpty(shortened.Prompts);

        // The sandbox's own checks, met by an id of the wrong stage sent through the raw path.
        var pan = MidjourneySpec.Pan;
        using var body = System.Text.Json.JsonDocument.Parse("""{"direction":"left"}""");
        var ex = await Assert.ThrowsAsync<MjProviderException>(() => mj.SubmitRawAsync(pan, pan.Forms[0], grid.TaskId, body.RootElement));
        Assert.Contains("upscale-1x", ex.Message, StringComparison.Ordinal);
        Assert.Equal(15, sandbox.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task ModerationFailureSurfacesAtOnce()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions());
        var mj = new MidjourneyClient(new HttpClient(), new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = "k", PollInitialDelay = TimeSpan.FromMilliseconds(20) });
        var ex = await Assert.ThrowsAsync<MjTaskFailedException>(() => mj.ImagineAsync("a forbidden castle").WaitAsync());
        Assert.Contains("forbidden", ex.Reason, StringComparison.Ordinal);
    }

    private static async Task<(int, int)> Size(HttpClient http, string url) => PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(url)));
}
