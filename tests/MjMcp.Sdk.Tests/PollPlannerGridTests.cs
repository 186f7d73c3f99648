using System.Globalization;
using System.Text;
using MjMcp.Rules;
using Xunit.Abstractions;

namespace MjMcp.Sdk.Tests;

/// <summary>
/// The poll plan of a first job (no memory) over a grid of job lengths and queue times, driven directly (no clock, no
/// HTTP): every poll is made exactly when the planner asks. The job is queued, then runs with a whole-number
/// percentage rising linearly, then is finished.
/// </summary>
public sealed class PollPlannerGridTests(ITestOutputHelper output)
{
    /// <summary>Jobs of 3 to 60 s, queued from 0.5 s up to a third of the job.</summary>
    public static IEnumerable<(double Queued, double Running)> Grid()
    {
        for (var total = 3.0; total <= 60; total += total < 10 ? 0.5 : total < 30 ? 1 : 2.5)
        {
            foreach (var queued in new[] { 0.5, 1, 1.5, 2, 3, 4, 5, 7, 10, 15, 20 })
            {
                if (queued <= Math.Max(1, total / 3))
                {
                    yield return (queued, total - queued);
                }
            }
        }
    }

    internal static string StatusAt(double age, double queued, double running, out int percentage)
    {
        percentage = 0;
        if (age < queued)
        {
            return "pending";
        }

        if (age >= queued + running)
        {
            percentage = 100;
            return "finished";
        }

        percentage = (int)((age - queued) / running * 100);
        return "processing";
    }

    internal static (int Polls, double Late, List<(double At, int Pct)> Seen) Run(double queued, double running, JobPrior? prior = null)
    {
        var planner = new PollPlanner(new MidjourneyOptions(), quiet: false, prior: prior);
        var seen = new List<(double, int)>();
        for (var i = 0; i < 100; i++)
        {
            var at = planner.NextPollAt.TotalSeconds;
            var status = StatusAt(at, queued, running, out var pct);
            seen.Add((at, status == "finished" ? 100 : status == "pending" ? -1 : pct));
            planner.Polled(TimeSpan.FromSeconds(at), status switch { "pending" => TaskState.Pending, "finished" => TaskState.Finished, _ => TaskState.Running }, pct);
            if (status == "finished")
            {
                return (planner.Polls, at - (queued + running), seen);
            }
        }

        throw new InvalidOperationException($"job {queued}+{running} not seen finished in 100 polls");
    }

    private static double Budget(double job) => Math.Max(0.3, job * 0.05);

    [Fact]
    public void EveryFirstJobFrom3To60SecondsIsSeenWithinItsBudget()
    {
        var report = new StringBuilder();
        var failures = new List<string>();
        var worstPolls = new SortedDictionary<int, int>();
        foreach (var (queued, running) in Grid())
        {
            var (polls, late, seen) = Run(queued, running);
            var total = queued + running;
            worstPolls[(int)Math.Ceiling(total / 10) * 10] = Math.Max(worstPolls.GetValueOrDefault((int)Math.Ceiling(total / 10) * 10), polls);
            var line = string.Create(CultureInfo.InvariantCulture, $"{total,5:0.0} q{queued,4:0.0}: {polls} polls, {late,5:0.00} late (budget {Budget(total):0.00}) | {string.Join(" ", seen.Select(s => $"{s.At:0.00}:{s.Pct}"))}");
            report.AppendLine(line);
            // Polls: one per queued sighting, then at most 3 running sightings (2 up to 5 s) and the one that sees it finished.
            var runningSightings = seen.Count(s => s.Pct >= 0 && s.Pct < 100);
            if (late < 0 || late > Budget(total) + 1e-9 || runningSightings > (total <= 5 ? 2 : 3))
            {
                failures.Add(line);
            }
        }

        output.WriteLine(string.Join(", ", worstPolls.Select(w => $"<= {w.Key} s: {w.Value}")));
        output.WriteLine(report.ToString());
        Assert.True(failures.Count == 0, "late:\n" + string.Join("\n", failures));
    }

    /// <summary>
    /// A wait with webhooks: the provider pushes an update when the run starts and every <paramref name="interval"/>
    /// seconds while it runs, and the final one at its end; only the first <paramref name="delivered"/> updates
    /// arrive (null: all), and the final one only if <paramref name="finalArrives"/>.
    /// </summary>
    internal static (int Polls, double Late) RunWithWebhooks(double queued, double running, double interval, int? delivered, bool finalArrives, JobPrior? prior = null)
    {
        var planner = new PollPlanner(new MidjourneyOptions(), quiet: true, prior: prior);
        var end = queued + running;
        var pushes = new List<double>();
        for (var at = queued; at < end && (delivered is null || pushes.Count < delivered); at += interval)
        {
            pushes.Add(at);
        }

        if (finalArrives)
        {
            pushes.Add(end);
        }

        var next = 0;
        for (var i = 0; i < 200; i++)
        {
            var pollAt = planner.NextPollAt.TotalSeconds;
            var push = next < pushes.Count && pushes[next] <= pollAt;
            var at = push ? pushes[next++] : pollAt;
            var status = StatusAt(at, queued, running, out var pct);
            var state = status switch { "pending" => TaskState.Pending, "finished" => TaskState.Finished, _ => TaskState.Running };
            if (push)
            {
                planner.Pushed(TimeSpan.FromSeconds(at), state, pct);
            }
            else
            {
                planner.Polled(TimeSpan.FromSeconds(at), state, pct);
            }

            if (state == TaskState.Finished)
            {
                return (planner.Polls, at - end);
            }
        }

        throw new InvalidOperationException($"job {queued}+{running} not seen finished");
    }

    [Fact]
    public void WithWebhooksFlowingNoJobIsPolled()
    {
        // Queued for less than the silence limit (PollMaxInterval): no update for that long before the first one
        // reads as webhooks that do not reach us (then the wait polls).
        foreach (var (queued, running) in Grid().Where(j => j.Queued < 10))
        {
            foreach (var interval in new[] { 1.0, 2, 5 })
            {
                var (polls, late) = RunWithWebhooks(queued, running, interval, delivered: null, finalArrives: true);
                Assert.True(polls == 0 && late == 0, $"{queued}+{running} s, updates every {interval} s: {polls} polls, {late:0.00} s late");
            }
        }
    }

    [Fact]
    public void WhenTheFinalWebhookIsLostTheTaskIsPolledOnceJustAfterItsProgressSaidItWouldEnd()
    {
        // Updates every 2 s while it runs, then nothing: the progress bounds the end, so the wait polls at that bound
        // plus the budget and one update interval instead of after a 10 s silence.
        foreach (var (queued, running) in Grid().Where(j => j.Queued < 10 && j.Running >= 4))
        {
            var (polls, late) = RunWithWebhooks(queued, running, 2, delivered: null, finalArrives: false);
            // Late by at most the spread of the end's bounds, the budget and one update interval (2 s).
            var budget = Budget(queued + running);
            Assert.True(polls == 1 && late <= (2 * budget) + 2 + 1e-9, $"{queued}+{running} s: {polls} polls, {late:0.00} s late (budget {budget:0.00})");
        }
    }

    [Fact]
    public void WhenWebhooksStopAfterTheFirstUpdateEarlierJobsBoundTheEnd()
    {
        // Only the update at the run's start arrives: that alone says nothing of the end (the silence limit decides),
        // but earlier jobs that agree do.
        var prior = new JobPrior(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(10), TimeSpan.Zero, TimeSpan.FromSeconds(0.1), TimeSpan.FromSeconds(0.1), 3);
        var (alone, lateAlone) = RunWithWebhooks(2, 8, 2, delivered: 1, finalArrives: false);
        var (remembered, late) = RunWithWebhooks(2, 8, 2, delivered: 1, finalArrives: false, prior);
        Assert.True(lateAlone >= 1, $"without memory: {alone} polls, {lateAlone:0.00} s late");
        Assert.InRange(remembered, 1, 2);
        Assert.InRange(late, 0, (2 * Budget(10)) + 2);
    }

    [Fact]
    public void ARetryingUpdateDropsTheEndTheProgressPromised()
    {
        // 0% at 2 s and 25% at 4 s bound the end by about 10 s; then the provider retries (the progress stalls): only
        // the silence limit (10 s after the last update) ends the wait for updates, not that bound.
        var planner = new PollPlanner(new MidjourneyOptions(), quiet: true);
        planner.Pushed(TimeSpan.FromSeconds(2), TaskState.Running, 0);
        planner.Pushed(TimeSpan.FromSeconds(4), TaskState.Running, 25);
        Assert.InRange(planner.NextPollAt, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(13));
        planner.Pushed(TimeSpan.FromSeconds(6), TaskState.Retrying, 25);
        Assert.Equal(TimeSpan.FromSeconds(16), planner.NextPollAt);
    }
}
