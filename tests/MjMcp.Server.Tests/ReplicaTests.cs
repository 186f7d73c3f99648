using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Rules;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Several <c>mjmcp</c> processes on one PostgreSQL journal and one standalone sandbox "provider": they share tasks and
/// parents, wake each other's waiters through LISTEN/NOTIFY, hold max_concurrent_jobs together, and finish a dead
/// replica's tasks.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReplicaTests(PostgresFixture postgres)
{
    private const string Key = "replica-provider-key";

    [Fact]
    public async Task ReplicasShareTasksAndAWebhookToOneWakesTheWaiterOnAnother()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(3)));
        var journal = await postgres.CreateDatabaseAsync("replicas");
        var portB = Paths.FreePort();

        // B runs the webhook receiver; A runs none and tells the provider B's URL (as behind a load balancer).
        await using var b = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, ("MJMCP_WEBHOOK_PORT", portB.ToString(CultureInfo.InvariantCulture))));
        await using var a = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, ("MJMCP_WEBHOOK_URL", $"http://127.0.0.1:{portB}/mjmcp/webhook")));
        sandbox.Counters.Reset();

        // A's waiter hears the task finish through B's receiver and the journal's NOTIFY: not one poll.
        var grid = await a.OkAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse at dusk", ["wait_seconds"] = 40 });
        Assert.Equal("finished", grid.GetProperty("state").GetString());
        Assert.Equal(0, sandbox.Counters.Requests("/fetch"));
        var gridId = grid.GetProperty("task_id").GetString()!;

        // A task made on A is a valid parent on B, checked from the shared journal without asking the provider.
        var upscaled = await b.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 2, ["wait_seconds"] = 40 });
        Assert.Equal("finished", upscaled.GetProperty("state").GetString());
        Assert.Equal(0, sandbox.Counters.Requests("/fetch"));

        // A call on A that returns at once leaves its task running; wait_task on B finishes it.
        var early = await a.OkAsync("imagine", new JsonObject { ["prompt"] = "left running", ["wait_seconds"] = 0 });
        var earlyId = early.GetProperty("task_id").GetString()!;
        var resumed = await b.OkAsync("wait_task", new JsonObject { ["task_id"] = earlyId, ["wait_seconds"] = 40 });
        Assert.Equal("finished", resumed.GetProperty("state").GetString());

        // Both see the same three tasks.
        var listedA = await a.OkAsync("list_tasks", new JsonObject { ["limit"] = 50 });
        var listedB = await b.OkAsync("list_tasks", new JsonObject { ["limit"] = 50 });
        Assert.Equal(3, listedA.GetProperty("tasks").GetArrayLength());
        Assert.Equal(Ids(listedA), Ids(listedB));
    }

    [Fact]
    public async Task MaxConcurrentJobsHoldsAcrossThreeReplicasAndTheWaitIsShownAsProgress()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(1500)));
        var journal = await postgres.CreateDatabaseAsync("slots");
        var servers = new List<ServerProcess>();
        var progress = new System.Collections.Concurrent.ConcurrentBag<string>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var server = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, ("MJMCP_MAX_CONCURRENT_JOBS", "4"), ("MJMCP_WEBHOOK_PORT", Paths.FreePort().ToString(CultureInfo.InvariantCulture))));
                servers.Add(server);
                server.Client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
                {
                    var value = JsonSerializer.Deserialize<ProgressNotificationParams>(notification.Params, ModelContextProtocol.McpJsonUtilities.DefaultOptions)!;
                    progress.Add(value.Progress.Message ?? string.Empty);
                    return default;
                });
            }

            sandbox.Counters.Reset();
            var calls = Enumerable.Range(0, 20).Select(async i =>
            {
                var server = servers[i % 3];
                var result = await server.CallAsync("imagine", new JsonObject { ["prompt"] = $"queued job {i}", ["wait_seconds"] = 50 }, progressToken: new ProgressToken($"job-{i}"));
                Assert.False(result.IsError == true, ServerProcess.Text(result));
                var status = result.StructuredContent!.Value.GetProperty("state").GetString();
                var id = result.StructuredContent!.Value.GetProperty("task_id").GetString()!;
                while (status != "finished")
                {
                    status = (await server.OkAsync("wait_task", new JsonObject { ["task_id"] = id, ["wait_seconds"] = 50 })).GetProperty("state").GetString();
                }

                return id;
            }).ToList();
            var ids = await Task.WhenAll(calls);

            Assert.Equal(20, ids.Distinct().Count());
            Assert.Equal(20, sandbox.Counters.AcceptedSubmissions);
            Assert.True(sandbox.Counters.MaxRunning <= 4, $"{sandbox.Counters.MaxRunning} provider jobs ran at once; the limit is 4 across the replicas");
            Assert.True(sandbox.Counters.MaxRunning >= 2, $"at most {sandbox.Counters.MaxRunning} job ran at once: the slots were not shared out");
            Assert.Contains(progress, m => m.StartsWith("waiting for a provider slot: ", StringComparison.Ordinal) && m.EndsWith(" ahead", StringComparison.Ordinal));
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task AReplicaKilledMidWaitLosesNothingItsTaskFinishesOnAnotherAndItsSlotIsFreed()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(6)));
        var journal = await postgres.CreateDatabaseAsync("kill");
        var portB = Paths.FreePort();
        var slots = ("MJMCP_MAX_CONCURRENT_JOBS", "1");
        await using var b = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, slots, ("MJMCP_WEBHOOK_PORT", portB.ToString(CultureInfo.InvariantCulture))));
        await using var a = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, slots, ("MJMCP_WEBHOOK_URL", $"http://127.0.0.1:{portB}/mjmcp/webhook")));
        sandbox.Counters.Reset();

        // A submits and waits, holding the only provider slot; it dies mid-wait.
        var call = a.CallAsync("imagine", new JsonObject { ["prompt"] = "orphaned by a crash", ["wait_seconds"] = 40 });
        using var reader = new PostgresTaskJournal(journal);
        await WaitUntilAsync(() => reader.List(null, 10).Count == 1);
        var pid = a.FindPid();
        Assert.NotNull(pid);
        using (var kill = Process.Start("kill", ["-9", pid!.Value.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        await Assert.ThrowsAnyAsync<Exception>(async () => await call);
        var orphan = reader.List(null, 10).Single().TaskId;

        // The dead replica's slot died with its session: B gets it for a new job.
        var next = await b.OkAsync("imagine", new JsonObject { ["prompt"] = "after the crash", ["wait_seconds"] = 40 });
        Assert.Equal("finished", next.GetProperty("state").GetString());

        // wait_task on B finishes the dead replica's task: 0 lost, 0 duplicated, nothing uncertain.
        var resumed = await b.OkAsync("wait_task", new JsonObject { ["task_id"] = orphan, ["wait_seconds"] = 40 });
        Assert.Equal("finished", resumed.GetProperty("state").GetString());
        Assert.Equal(2, sandbox.Counters.AcceptedSubmissions);
        Assert.Equal(2, sandbox.Counters.Requests("/imagine"));
        var tasks = reader.List(null, 10);
        Assert.Equal(2, tasks.Count);
        Assert.All(tasks, t => Assert.Equal(TaskState.Finished, t.State));
        Assert.Empty(reader.UncertainIntents());
    }

    [Fact]
    public async Task AnOrphanOfOneReplicaIsRecoveredByItsWebhookOnAnother()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(2)));

        // Every submit of A reaches the provider, which makes the task, but A never hears the answer.
        await using var proxy = await FaultProxy.StartAsync(sandbox.BaseUrl, new FaultProxyOptions { Seed = 3, DropAfterUpstreamRate = 1.0 });
        var journal = await postgres.CreateDatabaseAsync("orphan");
        var portB = Paths.FreePort();
        await using var b = await ServerProcess.StartAsync(null, env: Env(sandbox, journal, ("MJMCP_WEBHOOK_PORT", portB.ToString(CultureInfo.InvariantCulture))));
        var envA = Env(sandbox, journal, ("MJMCP_WEBHOOK_URL", $"http://127.0.0.1:{portB}/mjmcp/webhook"));
        envA["MJMCP_BASE_URL"] = proxy.BaseUrl.ToString();
        await using var a = await ServerProcess.StartAsync(null, env: envA);

        var lost = await a.CallAsync("imagine", new JsonObject { ["prompt"] = "the answer never came back", ["wait_seconds"] = 10 });
        Assert.True(lost.IsError);
        Assert.Equal("submit_uncertain", lost.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());

        // B's receiver gets the provider's callback, which names A's intent: the orphan gets its task, for every replica.
        using var reader = new PostgresTaskJournal(journal);
        await WaitUntilAsync(() => reader.RecoveredIntents() == 1);
        Assert.Empty(reader.UncertainIntents());
        var listed = await a.OkAsync("list_tasks", new JsonObject { ["limit"] = 10 });
        var orphan = Assert.Single(listed.GetProperty("tasks").EnumerateArray()).GetProperty("task_id").GetString()!;
        var finished = await a.OkAsync("wait_task", new JsonObject { ["task_id"] = orphan, ["wait_seconds"] = 40 });
        Assert.Equal("finished", finished.GetProperty("state").GetString());
        Assert.Equal(1, sandbox.Counters.AcceptedSubmissions); // never resent
    }

    private static IEnumerable<string> Ids(JsonElement listing) =>
        listing.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("task_id").GetString()!).Order(StringComparer.Ordinal);

    private static Task<SandboxServer> SandboxAsync(SandboxTiming timing) =>
        SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, DataDirectory = Paths.TempDir("replica-sandbox"), Timing = timing, CandidateSize = 64 });

    private static Dictionary<string, string?> Env(SandboxServer sandbox, string journal, params (string Name, string Value)[] more)
    {
        var env = new Dictionary<string, string?>
        {
            ["MJMCP_API_KEY"] = Key,
            ["MJMCP_BASE_URL"] = sandbox.BaseUrl.ToString(),
            ["MJMCP_JOURNAL"] = journal,
        };
        foreach (var (name, value) in more)
        {
            env[name] = value;
        }

        return env;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for a condition");
            await Task.Delay(50);
        }
    }
}
