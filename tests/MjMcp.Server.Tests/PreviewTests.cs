using Microsoft.Extensions.Logging.Abstractions;

namespace MjMcp.Server.Tests;

/// <summary>Previews fetch only http(s) images from the provider's hosts, and never fail a call.</summary>
public sealed class PreviewTests
{
    [Theory]
    [InlineData("https://api.apiframe.pro/x.png", true)]
    [InlineData("https://cdn.apiframe.pro/images/1.png", true)]
    [InlineData("https://apiframe.pro/1.png", true)]
    [InlineData("https://evil-apiframe.pro/1.png", false)]
    [InlineData("https://example.com/1.png", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("ftp://cdn.apiframe.pro/1.png", false)]
    [InlineData("http://127.0.0.1:8080/1.png", false)]
    public void OnlyTheProvidersHostsAreAllowed(string url, bool allowed) =>
        Assert.Equal(allowed, PreviewService.ProviderHosts(new Uri("https://api.apiframe.pro"), [])(new Uri(url)));

    [Fact]
    public void ALoopbackProviderAllowsOnlyItself()
    {
        var allowed = PreviewService.ProviderHosts(new Uri("http://127.0.0.1:5077/"), ["images.example.net"]);
        Assert.True(allowed(new Uri("http://127.0.0.1:5077/images/a.png")));
        Assert.True(allowed(new Uri("https://images.example.net/a.png")));
        Assert.False(allowed(new Uri("http://10.0.0.1/a.png")));
    }

    [Fact]
    public async Task AForbiddenOrBrokenPreviewIsNullNotAnError()
    {
        using var http = new HttpClient();
        var previews = new PreviewService(http, NullLogger<PreviewService>.Instance, PreviewService.ProviderHosts(new Uri("http://127.0.0.1:9/"), []));
        Assert.Null(await previews.TryGetAsync("file:///etc/passwd", CancellationToken.None));
        Assert.Null(await previews.TryGetAsync("not a url", CancellationToken.None));
        Assert.Null(await previews.TryGetAsync("http://127.0.0.1:9/nothing-listens-here.png", CancellationToken.None));
    }
}
