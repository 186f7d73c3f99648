using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Faults after the effect: the provider created the task, then the answer was lost (dropped connection, 500), or
/// the server was killed mid-submit. Every task the provider made ends up in the journal (known, or recovered by
/// its webhook through the intent id), nothing is submitted twice, and every outcome is reported honestly.
/// </summary>
public sealed class PaidTaskTests
{
    private const string Key = "paid-task-key-7731";

    [Fact]
    public async Task FaultsAfterTheProviderCreatedTheTaskLoseNothingAndDuplicateNothing()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = Key,
            CandidateSize = 64,
            DataDirectory = Paths.TempDir("paid-sandbox"),

            // Long enough that the provider's webhooks keep coming after the submit's answer was lost.
            Timing = new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(1.5)),
        });
        await using var proxy = await FaultProxy.StartAsync(sandbox.BaseUrl, new FaultProxyOptions
        {
            Seed = 11,
            DropAfterUpstreamRate = 0.15,
            FailAfterUpstreamRate = 0.15,
            RefuseBeforeRate = 0.1,
        });
        var dataDir = Paths.TempDir("paid-server");
        var outcomes = new System.Collections.Concurrent.ConcurrentBag<(string Tool, string Code, string Message)>();
        await using (var server = await ServerProcess.StartAsync(null, dataDir, env: Env(proxy.BaseUrl, Paths.FreePort())))
        {
            // 50 workflows, 5 at a time: imagine → upscale_1x → pan; a workflow stops at its first refused step (an
            // agent that follows the advice does not resubmit an uncertain call).
            using var gate = new SemaphoreSlim(5);
            await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
            {
                await gate.WaitAsync();
                try
                {
                    string? parent = null;
                    foreach (var (tool, args) in new[] { ("imagine", new JsonObject { ["prompt"] = $"workflow {i}" }), ("upscale_1x", new JsonObject { ["index"] = 1 + (i % 4) }), ("pan", new JsonObject { ["direction"] = "up" }) })
                    {
                        if (parent is not null)
                        {
                            args["parent_task_id"] = parent;
                        }

                        var result = await server.CallAsync(tool, args);
                        var structured = result.StructuredContent!.Value;
                        if (result.IsError == true)
                        {
                            var error = structured.GetProperty("error");
                            outcomes.Add((tool, error.GetProperty("code").GetString()!, error.GetProperty("message").GetString()!));
                            break;
                        }

                        outcomes.Add((tool, "ok", string.Empty));
                        parent = structured.GetProperty("task_id").GetString();
                    }
                }
                finally
                {
                    gate.Release();
                }
            }));

            // Late webhooks: the tasks whose answers were lost keep reporting progress to the receiver.
            await WaitUntilAsync(() => UnknownCreated(sandbox, dataDir) == 0, TimeSpan.FromSeconds(20));
        }

        var ambiguous = proxy.DroppedAfterUpstream + proxy.FailedAfterUpstream;
        Assert.True(ambiguous >= 5, $"the proxy injected too few after-the-effect faults ({ambiguous}) for the test to mean much");
        Assert.True(proxy.RefusedBeforeUpstream > 0);

        // Honest reporting: every ambiguous fault came back as submit_uncertain, nothing else did; a refusal before the
        // provider (retried by the client, then given up) says nothing was created.
        var uncertain = outcomes.Where(o => o.Code == "submit_uncertain").ToList();
        Assert.Equal(ambiguous, uncertain.Count);
        Assert.All(outcomes.Where(o => o.Code is not ("ok" or "submit_uncertain")), o => Assert.Contains("Nothing was created", o.Message, StringComparison.OrdinalIgnoreCase));

        // Nothing lost: every task the provider created is in the journal, known or recovered through its intent.
        using var journal = new SqliteTaskJournal(Path.Combine(dataDir, "journal.db"));
        var known = journal.List(null, 10_000);
        Assert.Equal(sandbox.Counters.AcceptedSubmissions, known.Count);
        Assert.Equal(0, UnknownCreated(sandbox, dataDir));
        Assert.Empty(journal.UncertainIntents());

        // Nothing duplicated: one provider task per submit the server sent, never a resend.
        Assert.Equal(outcomes.Count(o => o.Code is "ok" or "submit_uncertain"), sandbox.Counters.AcceptedSubmissions);
        Console.Error.WriteLine($"fault proxy: {outcomes.Count} calls, {sandbox.Counters.AcceptedSubmissions} tasks created, {ambiguous} answers lost after the task was made (all reported uncertain), {journal.RecoveredIntents()} recovered by their webhook, {proxy.RefusedBeforeUpstream} refused before the provider");
    }

    [Fact]
    public async Task KillNineMidSubmitLeavesNoTaskUnaccountedFor()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = Key,
            CandidateSize = 64,
            DataDirectory = Paths.TempDir("kill-sandbox"),
            // Tasks run for 12 s and report progress every 2.4 s, so each one keeps sending webhooks through several
            // server restarts: the provider documents no webhook retries, so an update sent while no server listens is
            // gone, and a task is recoverable only by an update that reaches a live server (on a slow machine a restart
            // takes seconds).
            Timing = new SandboxTiming(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(12)),

            // Each submit takes 300 ms to answer, so kills land before, during and after it.
            Faults = new SandboxFaults { Submit = new FaultRates { Latency = TimeSpan.FromMilliseconds(300) } },
        });
        var dataDir = Paths.TempDir("kill-server");
        var port = Paths.FreePort();
        var random = new Random(5);
        var calls = 0;
        for (var round = 0; round < 8; round++)
        {
            await using var server = await ServerProcess.StartAsync(null, dataDir, env: Env(sandbox.BaseUrl, port));
            var call = server.CallAsync("imagine", new JsonObject { ["prompt"] = $"killed {round}", ["wait_seconds"] = 10 });
            calls++;
            await Task.Delay(random.Next(0, 700));
            var pid = server.FindPid();
            Assert.NotNull(pid);
            using (var kill = Process.Start("kill", ["-9", pid!.Value.ToString(CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await Assert.ThrowsAnyAsync<Exception>(async () => await call);
        }

        // A restarted server on the same journal and webhook port hears the late webhooks and recovers the orphans
        // whose updates reach it. The provider documents no webhook retries, so an update sent while no server was
        // listening is gone: such a task stays accounted for by its write-ahead intent (written before the request),
        // never silently lost.
        int known;
        await using (var last = await ServerProcess.StartAsync(null, dataDir, env: Env(sandbox.BaseUrl, port)))
        {
            await WaitUntilAsync(() => UnknownCreated(sandbox, dataDir) == 0, TimeSpan.FromSeconds(45));
            var listed = await last.OkAsync("list_tasks", new JsonObject { ["limit"] = 200 });
            using var listing = new SqliteTaskJournal(Path.Combine(dataDir, "journal.db"));
            known = listing.List(null, 10_000).Count;
            Assert.Equal(known, listed.GetProperty("tasks").GetArrayLength());
        }

        var open = OpenIntents(dataDir);
        Assert.True(sandbox.Counters.AcceptedSubmissions <= known + open, $"{sandbox.Counters.AcceptedSubmissions} tasks created, {known} in the journal, only {open} submits without a known outcome");
        Assert.True(sandbox.Counters.AcceptedSubmissions <= calls, "a submit was sent twice");
        using var journal = new SqliteTaskJournal(Path.Combine(dataDir, "journal.db"));
        Console.Error.WriteLine($"kill -9: {calls} calls, {sandbox.Counters.AcceptedSubmissions} tasks created, {known} in the journal ({journal.RecoveredIntents()} recovered by their webhook), {open} written-ahead submits without a known outcome");
    }

    /// <summary>Write-ahead intents whose outcome the journal does not know (still sending when the process died, or uncertain).</summary>
    private static int OpenIntents(string dataDir)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "journal.db")};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM intents WHERE state IN ('Sending', 'Uncertain')";
        return Convert.ToInt32(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    private static Dictionary<string, string?> Env(Uri provider, int webhookPort) => new()
    {
        ["MJMCP_API_KEY"] = Key,
        ["MJMCP_BASE_URL"] = provider.ToString(),
        ["MJMCP_WEBHOOK_PORT"] = webhookPort.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>How many tasks the provider created that the journal does not know.</summary>
    private static int UnknownCreated(SandboxServer sandbox, string dataDir)
    {
        using var journal = new SqliteTaskJournal(Path.Combine(dataDir, "journal.db"));
        return sandbox.Counters.AcceptedSubmissions - journal.List(null, 10_000).Count;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
        }
    }
}
