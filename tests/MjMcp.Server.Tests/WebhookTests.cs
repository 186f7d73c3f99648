using System.Net;
using System.Text;
using MjMcp.Sandbox;
using MjMcp.Server;

namespace MjMcp.Server.Tests;

/// <summary>The local webhook receiver: the right secret wakes waiters with zero polls; anything else is refused; replays are harmless.</summary>
public sealed class WebhookTests
{
    /// <summary>A client with the SDK's default poll settings, or the server's for its embedded sandbox.</summary>
    private static MidjourneyClient Client(SandboxServer sandbox, bool serverSettings = false)
    {
        var options = new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = "hook-key" };
        if (serverSettings)
        {
            ServerBackend.UseEmbeddedSandboxPolling(options);
        }

        return new(new HttpClient(), options);
    }

    [Theory]
    [InlineData(false, 300, 1500)] // the SDK's defaults
    [InlineData(true, 500, 3000)] // the server's settings for its embedded sandbox, at its brisk timing
    public async Task WebhooksFinishTheWaitWithZeroPolls(bool serverSettings, int queuedMs, int runningMs)
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "hook-key", Timing = new SandboxTiming(TimeSpan.FromMilliseconds(queuedMs), TimeSpan.FromMilliseconds(runningMs)) });
        var mj = Client(sandbox, serverSettings);
        await using var receiver = await WebhookReceiver.StartAsync(mj, new WebhookReceiverOptions());
        var updates = 0;
        receiver.Updated += _ => Interlocked.Increment(ref updates);
        var grid = await mj.ImagineAsync("hooked lighthouse").WaitAsync(null, TimeSpan.FromSeconds(30));
        var pick = await mj.Upscale1xAsync(grid, 2).WaitAsync(null, TimeSpan.FromSeconds(30));
        Assert.Equal("upscaled", pick.Stage);
        Assert.Equal(0, sandbox.Counters.Requests("/fetch"));
        Assert.True(receiver.Accepted >= 4, $"{receiver.Accepted} callbacks");
        Assert.Equal(receiver.Accepted, updates);
        Assert.Equal(0, receiver.Rejected);
    }

    [Fact]
    public async Task WrongOrMissingSecretsAreRefusedAndReplaysAreHarmless()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "hook-key", Timing = new SandboxTiming(TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)) });
        var mj = Client(sandbox);
        await using var receiver = await WebhookReceiver.StartAsync(mj, new WebhookReceiverOptions { Secret = "the-right-secret" });
        var pending = await mj.ImagineAsync("slow");
        var wait = pending.WaitAsync(null, TimeSpan.FromSeconds(60));
        var finished = $$"""{"task_id":"{{pending.TaskId}}","task_type":"imagine","status":"finished","percentage":"100","original_image_url":"http://x/g.png","image_urls":["http://x/1.png","http://x/2.png","http://x/3.png","http://x/4.png"]}""";
        using var http = new HttpClient();

        async Task<HttpStatusCode> Post(string? secret)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, receiver.Url) { Content = new StringContent(finished, Encoding.UTF8, "application/json") };
            if (secret is not null)
            {
                request.Headers.Add("x-webhook-secret", secret);
            }

            using var response = await http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.Unauthorized, await Post("the-wrong-secret"));
        Assert.Equal(HttpStatusCode.Unauthorized, await Post(null));
        await Task.Delay(200);
        Assert.False(wait.IsCompleted);
        Assert.Equal(2, receiver.Rejected);

        var before = receiver.Accepted;
        Assert.Equal(HttpStatusCode.OK, await Post("the-right-secret"));
        var grid = await wait;
        Assert.Equal(pending.TaskId, grid.TaskId);
        Assert.Equal(HttpStatusCode.OK, await Post("the-right-secret"));
        Assert.Equal(before + 2, receiver.Accepted);
        Assert.Equal(0, sandbox.Counters.Requests("/fetch"));
    }
}
