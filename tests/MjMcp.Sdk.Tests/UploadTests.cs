using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MjMcp.Imaging;
using MjMcp.Sandbox;

namespace MjMcp.Sdk.Tests;

/// <summary>MjClient.UploadAsync: multipart to the spec's upload path, the URL back, checked first, never resent.</summary>
public sealed class UploadTests
{
    private const string Key = "sk-upload-SECRET-7731";

    private static byte[] SmallPng()
    {
        var pixels = new byte[40 * 40 * 4];
        for (var i = 0; i < pixels.Length; i += 4)
        {
            pixels[i] = (byte)(i % 256);
            pixels[i + 1] = 120;
            pixels[i + 2] = (byte)(255 - (i % 256));
            pixels[i + 3] = 255;
        }

        return PngCodec.Encode(new RgbaImage(40, 40, pixels));
    }

    private static ServiceProvider Services(Uri baseUrl, Func<HttpMessageHandler>? handler = null)
    {
        var builder = new ServiceCollection().AddMidjourneyClient(o =>
        {
            o.BaseUrl = baseUrl;
            o.ApiKey = Key;
            o.PollInitialDelay = TimeSpan.FromMilliseconds(50);
            o.PollMinInterval = TimeSpan.FromMilliseconds(50);
        });
        if (handler is not null)
        {
            builder.ConfigurePrimaryHttpMessageHandler(handler);
        }

        return builder.Services.BuildServiceProvider();
    }

    [Fact]
    public async Task AnUploadedImageCanBeDescribed()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, CandidateSize = 64 });
        await using var services = Services(sandbox.BaseUrl);
        var mj = services.GetRequiredService<MidjourneyClient>();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        using var image = new MemoryStream(SmallPng());
        var url = await mj.UploadAsync(image, "me.png", cts.Token);
        Assert.StartsWith(sandbox.BaseUrl + "images/", url.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, sandbox.Counters.Requests("/upload"));

        var described = await mj.DescribeAsync(url.ToString()).WaitAsync(cts.Token);
        Assert.Equal(4, described.Prompts.Count);
    }

    [Fact]
    public async Task RefusedBeforeAnyRequest()
    {
        var handler = new CountingHandler(_ => new HttpResponseMessage(HttpStatusCode.OK));
        using var http = new HttpClient(handler);
        var options = new MidjourneyOptions { BaseUrl = new Uri("http://provider.test/"), ApiKey = Key };

        var noUpload = MidjourneySpec.Rules with { Provider = MidjourneySpec.Rules.Provider with { UploadPath = null, UploadField = null, UploadResultField = null } };
        var plain = new MjClient(http, options, noUpload);
        using (var png = new MemoryStream(SmallPng()))
        {
            var ex = await Assert.ThrowsAsync<MjValidationException>(() => plain.UploadAsync(png, "a.png"));
            Assert.Contains("declares no image upload", ex.Message, StringComparison.Ordinal);
        }

        var mj = new MidjourneyClient(http, options);
        using (var empty = new MemoryStream())
        {
            var ex = await Assert.ThrowsAsync<MjValidationException>(() => mj.UploadAsync(empty, "a.png"));
            Assert.Contains("empty", ex.Message, StringComparison.Ordinal);
        }

        using (var huge = new MemoryStream(new byte[MjClient.MaxUploadBytes + 1]))
        {
            var ex = await Assert.ThrowsAsync<MjValidationException>(() => mj.UploadAsync(huge, "a.png"));
            Assert.Contains("20 MB", ex.Message, StringComparison.Ordinal);
        }

        Assert.Equal(0, handler.Count);
    }

    [Fact]
    public async Task SendsMultipartWithTheKeyAndIsNotResentAfterAnAmbiguousFailure()
    {
        var handler = new CountingHandler(_ => new HttpResponseMessage(HttpStatusCode.InternalServerError) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });
        await using var services = Services(new Uri("http://provider.test/"), () => handler);
        var mj = services.GetRequiredService<MidjourneyClient>();
        using var png = new MemoryStream(SmallPng());

        var ex = await Assert.ThrowsAsync<MjProviderException>(() => mj.UploadAsync(png, "dir/me.png"));
        Assert.True(ex.MayHaveCreatedTask);
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, handler.Count);
        var sent = Assert.Single(handler.Seen);
        Assert.Equal("/upload", sent.Path);
        Assert.Equal(Key, sent.Authorization);
        Assert.StartsWith("multipart/form-data", sent.ContentType, StringComparison.Ordinal);
        Assert.Contains("name=image", sent.Body, StringComparison.Ordinal);
        Assert.Contains("filename=me.png", sent.Body, StringComparison.Ordinal);
    }

    private sealed record Seen(string Path, string? Authorization, string ContentType, string Body);

    private sealed class CountingHandler(Func<HttpRequestMessage, HttpResponseMessage> reply) : HttpMessageHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public System.Collections.Concurrent.ConcurrentQueue<Seen> Seen { get; } = new();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            var body = request.Content is null ? string.Empty : Encoding.Latin1.GetString(await request.Content.ReadAsByteArrayAsync(cancellationToken));
            Seen.Enqueue(new Seen(
                request.RequestUri!.AbsolutePath,
                request.Headers.TryGetValues("Authorization", out var values) ? values.Single() : null,
                request.Content?.Headers.ContentType?.ToString() ?? string.Empty,
                body));
            return reply(request);
        }
    }
}
