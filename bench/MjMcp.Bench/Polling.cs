using System.Globalization;
using System.Net;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>
/// (b) Polling cost and lateness on a fake clock: one job, queued then running with a whole-number percentage rising
/// linearly, then finished. Counted: /fetch calls, and fake time from the job's end to the moment the wait returned.
/// Each job is measured as the first of its kind a client sees, after <see cref="Earlier"/> earlier jobs of the same
/// kind and length on the same client (which then plans from what those took), and as the first job of a new client
/// given the earlier one's memory (<see cref="MjClient.RestoreJobDurations"/>: what mjmcp does after a restart).
/// </summary>
internal static class Polling
{
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(20);

    /// <summary>Jobs a client finishes before the measured one, in the "after earlier jobs" columns.</summary>
    private const int Earlier = 3;

    /// <summary>Job lengths (queued + running seconds).</summary>
    private static readonly (double Queued, double Running)[] Jobs = [(1, 2), (2, 8), (2, 13), (3, 27), (5, 55)];

    private enum Hooks
    {
        None,
        Flowing,
        LostAfterFirst,
        FinalLost,
    }

    public static async Task RunAsync(StringBuilder md)
    {
        Bench.Log("(b) polling on a fake clock");
        var rows = new List<string[]>();
        foreach (var (queued, running) in Jobs)
        {
            var row = new List<string> { F(queued + running, "0"), F(queued, "0") };
            foreach (var (hooks, earlier, restart) in new[] { (Hooks.None, 0, false), (Hooks.None, Earlier, false), (Hooks.None, Earlier, true), (Hooks.Flowing, 0, false), (Hooks.LostAfterFirst, 0, false), (Hooks.FinalLost, 0, false) })
            {
                var (polls, late) = await OneAsync(TimeSpan.FromSeconds(queued), TimeSpan.FromSeconds(running), hooks, earlier, restart);
                row.Add(I(polls));
                row.Add(F(late.TotalSeconds, "0.00"));
            }

            rows.Add([.. row]);
        }

        md.AppendLine("## b. Polling: /fetch calls per task and how late completion is seen");
        md.AppendLine();
        md.AppendLine("One job on a fake clock (`FakeTimeProvider`, 20 ms steps): queued (`pending`, 0%), then running with a whole-number percentage rising linearly, then finished; the SDK's default poll settings (first poll after 2 s, 1–10 s apart; the same settings mjmcp uses with a provider). \"Late\" is the fake time from the job's end to the moment `WaitAsync` returned. With webhooks, the provider sends an update when the job starts running and every 2 s while it runs, and one when it finishes; polls then wait for a silence (the larger of 10 s and twice the longest gap between updates). \"Webhooks lost after the first\" delivers only the first update (at the run's start, 0%): polling takes over after the silence. \"Final webhook lost\" delivers every update but the final one: the progress they carried bounds the end, and the wait polls once that bound plus the budget has passed. \"After earlier jobs\": the same client first waited for " + I(Earlier) + " jobs of the same kind and length (no webhooks), and plans the measured one from what they took (the SDK remembers the last few jobs of each operation per client). \"After a restart\": a new client given that client's memory (`RestoreJobDurations`, as mjmcp does from `job-durations.json` in its data directory) waits for its first job.");
        md.AppendLine();
        Bench.Table(md, ["job, s", "queued, s", "no webhooks, first job: polls", "late, s", "no webhooks, after earlier jobs: polls", "late, s", "no webhooks, first job after a restart (memory restored): polls", "late, s", "webhooks flowing: polls", "late, s", "webhooks lost after the first: polls", "late, s", "final webhook lost: polls", "late, s"], rows);
    }

    private static async Task<(int Polls, TimeSpan Late)> OneAsync(TimeSpan queued, TimeSpan running, Hooks hooks, int earlier, bool restart)
    {
        var time = new FakeTimeProvider();
        var provider = new FakeProvider(time, queued, running);
        using var http = new HttpClient(provider);
        var options = new MidjourneyOptions { BaseUrl = new Uri("http://provider.test/"), ApiKey = "fake-key" };
        var mj = new MidjourneyClient(http, options, null, time);
        if (hooks != Hooks.None)
        {
            mj.UseWebhook(new WebhookTarget(new Uri("http://127.0.0.1:9/hook"), "bench-webhook-secret-0123456789"));
        }

        for (var i = 0; i <= earlier; i++)
        {
            if (i == earlier && restart)
            {
                // A new client (a new process) given the old one's memory.
                var memory = mj.SnapshotJobDurations();
                mj = new MidjourneyClient(http, options, null, time);
                mj.RestoreJobDurations(memory);
            }

            var result = await JobAsync(time, provider, mj, queued, running, hooks);
            if (i == earlier)
            {
                return result;
            }
        }

        throw new InvalidOperationException("unreachable");
    }

    private static async Task<(int Polls, TimeSpan Late)> JobAsync(FakeTimeProvider time, FakeProvider provider, MidjourneyClient mj, TimeSpan queued, TimeSpan running, Hooks hooks)
    {
        var wait = mj.ImagineAsync("polling bench").WaitAsync();
        var nextUpdate = queued;
        var sent = 0;
        TimeSpan? done = null;
        for (var i = 0; i < 1_000_000 && done is null; i++)
        {
            time.Advance(Step);
            await Task.Delay(1);
            var age = provider.Age;
            if (hooks != Hooks.None && age is { } a && a >= nextUpdate && (hooks != Hooks.LostAfterFirst || sent == 0) && nextUpdate <= queued + running)
            {
                var status = provider.StatusAt(nextUpdate, out var pct);
                if (hooks != Hooks.FinalLost || status != "finished")
                {
                    mj.ReportUpdate(FetchResponse.Parse(Encoding.UTF8.GetBytes(FakeProvider.Json(status, pct))));
                }

                sent++;
                nextUpdate = nextUpdate + TimeSpan.FromSeconds(2) < queued + running ? nextUpdate + TimeSpan.FromSeconds(2) : queued + running;
                if (status == "finished")
                {
                    nextUpdate = TimeSpan.MaxValue;
                }
            }

            if (wait.IsCompleted)
            {
                done = provider.Age;
            }
        }

        await wait;
        return (provider.Polls, (done ?? TimeSpan.Zero) - (queued + running));
    }

    /// <summary>A provider with one imagine job at a time (each submission starts the next), answering /fetch from the fake clock.</summary>
    private sealed class FakeProvider(FakeTimeProvider time, TimeSpan queued, TimeSpan running) : HttpMessageHandler
    {
        private DateTimeOffset? _submitted;
        private int _polls;

        /// <summary>/fetch calls since the latest submission.</summary>
        public int Polls => Volatile.Read(ref _polls);

        public TimeSpan? Age => _submitted is { } s ? time.GetUtcNow() - s : null;

        public string StatusAt(TimeSpan age, out int percentage)
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

        public static string Json(string status, int pct) => status == "finished"
            ? """{"task_id":"job-1","task_type":"imagine","status":"finished","percentage":"100","original_image_url":"http://cdn.test/job-1.png","image_urls":["http://cdn.test/1.png","http://cdn.test/2.png","http://cdn.test/3.png","http://cdn.test/4.png"]}"""
            : string.Create(CultureInfo.InvariantCulture, $$"""{"task_id":"job-1","task_type":"imagine","status":"{{status}}","percentage":"{{pct}}"}""");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            string body;
            if (request.RequestUri!.AbsolutePath.EndsWith("/fetch", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref _polls);
                var status = StatusAt(Age ?? TimeSpan.Zero, out var pct);
                body = Json(status, pct);
            }
            else
            {
                _submitted = time.GetUtcNow();
                Volatile.Write(ref _polls, 0);
                body = """{"task_id":"job-1"}""";
            }

            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(body, Encoding.UTF8, "application/json") });
        }
    }
}
