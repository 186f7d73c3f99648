using System.Collections.Concurrent;
using System.Net;
using MjMcp.Rules;
using MjMcp.Sandbox;

namespace MjMcp.Sdk.Tests;

/// <summary>The generated SDK against a sandbox that sends the provider's extended statuses and its strict error bodies.</summary>
public sealed class SandboxFidelityTests
{
    private static MidjourneyClient Client(HttpClient http, SandboxServer sandbox, string key) => new(http, new MidjourneyOptions
    {
        BaseUrl = sandbox.BaseUrl,
        ApiKey = key,
        PollInitialDelay = TimeSpan.FromMilliseconds(20),
        PollMinInterval = TimeSpan.FromMilliseconds(20),
        PollMaxInterval = TimeSpan.FromMilliseconds(40),
    });

    [Fact]
    public async Task WaitAsyncFinishesTasksThroughStagedStartingAndRetrying()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            Timing = new SandboxTiming(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(3)),
            ExtendedStatuses = true,
            StatusSeed = 7,
            CandidateSize = 64,
        });
        using var http = new HttpClient();
        var mj = Client(http, sandbox, "k");
        var reports = new ConcurrentQueue<TaskProgress>();
        var progress = new Recorder(reports);

        var grids = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            var pending = await mj.ImagineAsync($"a patient lighthouse {i}");
            return await pending.WaitAsync(progress, TimeSpan.FromSeconds(60));
        }));

        Assert.All(grids, g => Assert.Equal(4, g.ImageUrls.Count));
        var states = reports.Select(r => r.State).ToHashSet();
        var statuses = reports.Select(r => r.Status).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(TaskState.Unknown, states);
        foreach (var state in new[] { TaskState.Pending, TaskState.Running, TaskState.Finished })
        {
            Assert.True(states.Contains(state), $"no {state} reported: {string.Join(", ", states)}");
        }

        // Adaptive polling need not land on every short-lived status (the sandbox tests prove each one is sent); the
        // client must read whichever it meets as the spec maps them, never as Unknown.
        Assert.True(statuses.Overlaps(["staged", "starting", "retrying"]), $"no extended status reported: {string.Join(", ", statuses)}");

        // Every task's reports: pending-family first, finished last, once each task is done.
        foreach (var task in reports.GroupBy(r => r.TaskId))
        {
            var list = task.ToList();
            Assert.Equal(TaskState.Pending, list[0].State);
            Assert.Equal(TaskState.Finished, list[^1].State);
            Assert.Equal(100, list[^1].Percentage);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ErrorBodiesSurfaceTheProviderMessageStrictOrNot(bool strict)
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "sdk-key", Strict = strict, CandidateSize = 64 });
        using var http = new HttpClient();
        var mj = Client(http, sandbox, "sdk-key");
        var grid = await mj.ImagineAsync("a strict lighthouse").WaitAsync();

        // The sandbox's own parent check, met through the raw path: the errors[].msg text reaches the exception.
        var pan = MidjourneySpec.Pan;
        using var body = System.Text.Json.JsonDocument.Parse("""{"direction":"left"}""");
        var refused = await Assert.ThrowsAsync<MjProviderException>(() => mj.SubmitRawAsync(pan, pan.Forms[0], grid.TaskId, body.RootElement));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("upscale-1x", refused.ProviderMessage, StringComparison.Ordinal);
        Assert.Contains(refused.ProviderMessage!, refused.Message, StringComparison.Ordinal);

        // A wrong key: 401 ({} when strict) is an authentication error with a clear message.
        var wrong = Client(http, sandbox, "wrong-key");
        var denied = await Assert.ThrowsAsync<MjAuthenticationException>(() => wrong.ImagineAsync("denied").AsTask());
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        Assert.Contains("rejected the API key", denied.Message, StringComparison.Ordinal);
        if (strict)
        {
            Assert.Null(denied.ProviderMessage);
        }
        else
        {
            Assert.Contains("API key", denied.ProviderMessage, StringComparison.Ordinal);
        }

        var deniedFetch = await Assert.ThrowsAsync<MjAuthenticationException>(() => wrong.WaitAsync(grid.TaskId));
        Assert.Equal(HttpStatusCode.Unauthorized, deniedFetch.StatusCode);
    }

    [Fact]
    public async Task DescribeStillFinishesWithItsImageUrlOnTheWire()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { CandidateSize = 64 });
        using var http = new HttpClient();
        var mj = Client(http, sandbox, "k");
        var grid = await mj.ImagineAsync("a described lighthouse").WaitAsync();
        var pending = await mj.DescribeAsync(grid.ImageUrls[1]);
        var described = await pending.WaitAsync();
        Assert.Equal(4, described.Prompts.Count);
        var raw = await mj.FetchAsync(pending.TaskId);
        Assert.Equal(grid.ImageUrls[1], raw.ImageUrl);
    }

    /// <summary>Reports synchronously (Progress&lt;T&gt; posts to a context and may reorder).</summary>
    private sealed class Recorder(ConcurrentQueue<TaskProgress> reports) : IProgress<TaskProgress>
    {
        public void Report(TaskProgress value) => reports.Enqueue(value);
    }
}
