using System.Net;
using Microsoft.Extensions.Time.Testing;
using MjMcp.Rules;

namespace MjMcp.Sdk.Tests;

/// <summary>Waiting: progress, typed results, cancellation, deadline, transient failures, adaptive polling, webhooks.</summary>
public sealed class WaitTests
{
    /// <summary>A provider whose imagine job runs <paramref name="duration"/> on the fake clock.</summary>
    private static ScriptedHandler Job(FakeTimeProvider time, TimeSpan duration, Func<int, HttpResponseMessage?>? fault = null)
    {
        var started = time.GetUtcNow();
        var fetches = 0;
        return new ScriptedHandler(r =>
        {
            if (r.Path != "/fetch")
            {
                return ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1"}""");
            }

            if (fault?.Invoke(++fetches) is { } faulted)
            {
                return faulted;
            }

            var elapsed = time.GetUtcNow() - started;
            if (elapsed < TimeSpan.FromSeconds(1))
            {
                return ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1", "pending", 0));
            }

            return elapsed >= duration
                ? ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1"))
                : ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1", "processing", (int)(elapsed / duration * 100)));
        });
    }

    [Fact]
    public async Task WaitReportsProgressInOrderAndReturnsTheTypedStage()
    {
        var time = new FakeTimeProvider();
        var handler = Job(time, TimeSpan.FromSeconds(30));
        var mj = Fake.Client(handler, time);
        var seen = new List<TaskProgress>();
        var grid = await Fake.Drive(time, mj.ImagineAsync("x").WaitAsync(new SyncProgress(seen.Add)));
        Assert.Equal("job-1", grid.TaskId);
        Assert.Equal(4, grid.ImageUrls.Count);
        Assert.Equal("grid", grid.Stage);
        Assert.Equal("imagine", grid.Operation);
        Assert.Equal(TaskState.Finished, seen[^1].State);
        Assert.Equal(100, seen[^1].Percentage);
        Assert.Contains(seen, p => p.State == TaskState.Running);
        Assert.Equal(seen.Select(p => p.Percentage ?? 0).Order(), seen.Select(p => p.Percentage ?? 0));
    }

    [Fact]
    public async Task ATenSecondJobCostsAtMostFourPolls()
    {
        // Running at the first poll: a second no later than the end could come, a third pins the rate, the fourth sees it finished.
        var time = new FakeTimeProvider();
        var handler = Job(time, TimeSpan.FromSeconds(10));
        var mj = Fake.Client(handler, time, o => o.PollInitialDelay = TimeSpan.FromSeconds(2));
        await Fake.Drive(time, mj.ImagineAsync("x").WaitAsync());
        Assert.InRange(handler.Count("/fetch"), 1, 4);
    }

    [Fact]
    public async Task DeadlineThrowsWithTheLastStatus()
    {
        var time = new FakeTimeProvider();
        var mj = Fake.Client(Job(time, TimeSpan.FromMinutes(30)), time);
        var ex = await Assert.ThrowsAsync<MjWaitTimeoutException>(() => Fake.Drive(time, mj.ImagineAsync("x").WaitAsync(null, TimeSpan.FromSeconds(20))));
        Assert.Equal("job-1", ex.TaskId);
        Assert.Equal("processing", ex.Last!.Status);
        Assert.Contains("wait for it again", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CancellationStopsTheWait()
    {
        var time = new FakeTimeProvider();
        var mj = Fake.Client(Job(time, TimeSpan.FromMinutes(30)), time);
        using var cts = new CancellationTokenSource();
        var wait = mj.ImagineAsync("x").WaitAsync(cts.Token);
        time.Advance(TimeSpan.FromSeconds(5));
        await Task.Delay(20);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
    }

    [Fact]
    public async Task TransientFetchFailuresAreSurvivedUpToTheLimit()
    {
        var time = new FakeTimeProvider();
        var flaky = Job(time, TimeSpan.FromSeconds(8), n => n <= 3 ? ScriptedHandler.Json(n == 2 ? HttpStatusCode.TooManyRequests : HttpStatusCode.InternalServerError, "{}") : null);
        var grid = await Fake.Drive(time, Fake.Client(flaky, time).ImagineAsync("x").WaitAsync());
        Assert.Equal("job-1", grid.TaskId);

        var broken = Job(time, TimeSpan.FromSeconds(8), _ => ScriptedHandler.Json(HttpStatusCode.InternalServerError, "{}"));
        await Assert.ThrowsAsync<MjProviderException>(() => Fake.Drive(time, Fake.Client(broken, time, o => o.MaxConsecutiveFetchFailures = 3).ImagineAsync("x").WaitAsync()));
        Assert.Equal(3, broken.Count("/fetch"));
    }

    [Fact]
    public async Task AFailedTaskSurfacesTheProvidersReason()
    {
        var handler = new ScriptedHandler(r => r.Path == "/fetch"
            ? ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1","task_type":"imagine","status":"failed","error":"banned word: forbidden"}""")
            : ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1"}"""));
        var time = new FakeTimeProvider();
        var ex = await Assert.ThrowsAsync<MjTaskFailedException>(() => Fake.Drive(time, Fake.Client(handler, time).ImagineAsync("x").WaitAsync()));
        Assert.Equal("banned word: forbidden", ex.Reason);
    }

    [Fact]
    public async Task MissingStatusKeepsPolling()
    {
        var time = new FakeTimeProvider();
        var fetches = 0;
        var handler = new ScriptedHandler(r => r.Path == "/fetch"
            ? ScriptedHandler.Json(HttpStatusCode.OK, ++fetches < 3 ? """{"task_id":"job-1","task_type":"imagine"}""" : Fake.Grid("job-1"))
            : ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1"}"""));
        var grid = await Fake.Drive(time, Fake.Client(handler, time).ImagineAsync("x").WaitAsync());
        Assert.Equal(3, fetches);
        Assert.Equal("job-1", grid.TaskId);
    }

    [Fact]
    public async Task AWebhookUpdateCompletesTheWaitWithoutPolling()
    {
        var time = new FakeTimeProvider();
        var handler = Job(time, TimeSpan.FromMinutes(5));
        var mj = Fake.Client(handler, time, o => o.PollInitialDelay = TimeSpan.FromMinutes(1));
        var pending = await mj.ImagineAsync("x");
        var wait = pending.WaitAsync();
        await Task.Delay(20);
        mj.ReportUpdate(FetchResponse.Parse(System.Text.Encoding.UTF8.GetBytes(Fake.Grid("job-1"))));
        var grid = await wait.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(4, grid.ImageUrls.Count);
        Assert.Equal(0, handler.Count("/fetch"));
    }

    [Fact]
    public async Task WatchYieldsTheSameProgress()
    {
        var time = new FakeTimeProvider();
        var mj = Fake.Client(Job(time, TimeSpan.FromSeconds(20)), time);
        var pending = await mj.ImagineAsync("x");
        var items = new List<TaskProgress>();
        var watch = Task.Run(async () =>
        {
            await foreach (var item in pending.WatchAsync())
            {
                items.Add(item);
            }

            return items;
        });
        await Fake.Drive(time, watch);
        Assert.Equal(TaskState.Finished, items[^1].State);
        Assert.True(items.Count >= 2);
    }

    private sealed class SyncProgress(Action<TaskProgress> report) : IProgress<TaskProgress>
    {
        public void Report(TaskProgress value) => report(value);
    }
}
