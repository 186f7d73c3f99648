using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Time.Testing;

namespace MjMcp.Sdk.Tests;

/// <summary>
/// Polling cost and lateness against realistic jobs on a fake clock: queued for a while (pending, 0%), then running
/// with a whole-number percentage rising linearly, then finished. Lateness is fake time from the job's end to the
/// poll that saw it finished.
/// </summary>
public sealed class PollingTests
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(20);

    /// <summary>A provider whose one imagine job is queued, then runs, for the given times.</summary>
    private sealed class RealisticJob
    {
        private readonly FakeTimeProvider _time;
        private readonly DateTimeOffset _submitted;

        public RealisticJob(FakeTimeProvider time, TimeSpan queued, TimeSpan running)
        {
            _time = time;
            _submitted = time.GetUtcNow();
            Queued = queued;
            Running = running;
            Handler = new ScriptedHandler(r => r.Path == "/fetch" ? Fetch() : ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1"}"""));
        }

        public TimeSpan Queued { get; }

        public TimeSpan Running { get; }

        public TimeSpan End => Queued + Running;

        public ScriptedHandler Handler { get; }

        public ConcurrentQueue<(TimeSpan At, string Status)> Polls { get; } = new();

        public string StatusAt(TimeSpan age, out int percentage)
        {
            percentage = 0;
            if (age < Queued)
            {
                return "pending";
            }

            if (age >= End)
            {
                percentage = 100;
                return "finished";
            }

            percentage = (int)((age - Queued) / Running * 100);
            return "processing";
        }

        private HttpResponseMessage Fetch()
        {
            var age = _time.GetUtcNow() - _submitted;
            var status = StatusAt(age, out var pct);
            Polls.Enqueue((age, status));
            return ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1", status, pct));
        }

        /// <summary>Fake time from the job's end to the poll that saw it finished.</summary>
        public TimeSpan Lateness => Polls.First(p => p.Status == "finished").At - End;

        public static TimeSpan Budget(TimeSpan job) => job * 0.05 > TimeSpan.FromMilliseconds(300) ? job * 0.05 : TimeSpan.FromMilliseconds(300);
    }

    private static async Task<RealisticJob> RunAsync(double queuedSeconds, double runningSeconds, Action<MidjourneyOptions>? configure = null)
    {
        var time = new FakeTimeProvider();
        var job = new RealisticJob(time, TimeSpan.FromSeconds(queuedSeconds), TimeSpan.FromSeconds(runningSeconds));
        var mj = Fake.Client(job.Handler, time, configure ?? (o => o.PollInitialDelay = new MidjourneyOptions().PollInitialDelay));
        var grid = await Fake.Drive(time, mj.ImagineAsync("x").WaitAsync(), Step);
        Assert.Equal("job-1", grid.TaskId);
        return job;
    }

    [Theory]
    [InlineData(2, 8)] // the 10 s job: first poll at the start of the run
    [InlineData(1, 2)] // 3 s
    [InlineData(0.5, 2.5)] // 3 s, short queue
    [InlineData(1.5, 5)]
    public async Task AShortJobCostsAtMostThreePollsAndIsSeenOnTime(double queued, double running)
    {
        var job = await RunAsync(queued, running);
        Assert.InRange(job.Polls.Count, 1, 3);
        Assert.InRange(job.Lateness, TimeSpan.Zero, RealisticJob.Budget(job.End) + Step);
    }

    [Theory]
    [InlineData(1, 14)]
    [InlineData(0.5, 29.5)] // 30 s
    [InlineData(2, 28)]
    [InlineData(1, 59)] // 60 s
    [InlineData(2, 58)]
    [InlineData(3, 7)] // queued past the first poll
    [InlineData(4, 26)]
    public async Task ALongerJobCostsAtMostFourPollsAndIsSeenOnTime(double queued, double running)
    {
        // The first sighting (a few percent, or 0%) bounds neither the run's start nor its rate well enough to aim at
        // the end: one sighting half way gives the rate, the next sees it finished.
        var job = await RunAsync(queued, running);
        Assert.InRange(job.Polls.Count, 1, 4);
        Assert.InRange(job.Lateness, TimeSpan.Zero, RealisticJob.Budget(job.End) + Step);
    }

    [Theory]
    [InlineData(5, 55)] // queued through two polls
    public async Task ALongQueueCostsOneMorePollPerQueuedSighting(double queued, double running)
    {
        var job = await RunAsync(queued, running);
        Assert.InRange(job.Polls.Count, 1, 4 + job.Polls.Count(p => p.Status == "pending"));
        Assert.InRange(job.Lateness, TimeSpan.Zero, RealisticJob.Budget(job.End) + Step);
    }

    [Fact]
    public async Task AProviderLaterThanItsProgressSaidIsPolledUntilFinishedWithoutAFlood()
    {
        // Progress says 10 s, but the result appears at 20 s (a render backlog): polls follow the task's age, not a tight loop.
        var time = new FakeTimeProvider();
        var submitted = time.GetUtcNow();
        var polls = 0;
        var handler = new ScriptedHandler(r =>
        {
            if (r.Path != "/fetch")
            {
                return ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"job-1"}""");
            }

            polls++;
            var age = (time.GetUtcNow() - submitted).TotalSeconds;
            return age >= 20
                ? ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1"))
                : ScriptedHandler.Json(HttpStatusCode.OK, Fake.Grid("job-1", age < 1 ? "pending" : "processing", (int)Math.Clamp((age - 1) / 9 * 100, 0, 99)));
        });
        var grid = await Fake.Drive(time, Fake.Client(handler, time).ImagineAsync("x").WaitAsync(), Step);
        Assert.Equal("job-1", grid.TaskId);
        Assert.InRange(polls, 4, 15);
    }
}
