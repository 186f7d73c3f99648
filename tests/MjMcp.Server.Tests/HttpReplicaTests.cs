using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ModelContextProtocol.Client;
using MjMcp.Rules;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Replicas as a team runs them: several <c>mjmcp serve --http</c> processes on one PostgreSQL journal, one provider
/// (a standalone sandbox), clients with a bearer token spread over them through MCP Streamable HTTP.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class HttpReplicaTests(PostgresFixture postgres)
{
    private const string Key = "http-replica-provider-key";

    [Fact]
    public async Task AHundredWorkflowsOverStreamableHttpOnThreeReplicasAllSucceed()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1.5)));
        var (token, hash) = HttpServerProcess.NewToken();
        await ExternalClientTests.EnsureNpmPackagesAsync();
        var figures = new List<string>();
        foreach (var replicas in new[] { 1, 3 })
        {
            var journal = await postgres.CreateDatabaseAsync($"http{replicas}");
            var servers = await StartReplicasAsync(sandbox, journal, hash, replicas);
            try
            {
                sandbox.Counters.Reset();
                var urls = string.Join(",", servers.Select(s => s.McpUrl.ToString()));
                var (exit, stdout, stderr) = await ExternalClientTests.RunAsync("node", ["ts-http-load.mjs", "--urls", urls, "--token", token, "--workflows", "100"], [], TimeSpan.FromMinutes(10));
                Assert.True(exit == 0, $"node exited {exit}: {stderr}");
                var result = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
                Assert.True(result.GetProperty("failed").GetInt32() == 0, stdout);
                Assert.Equal(100, result.GetProperty("ok").GetInt32());

                // Nothing sent twice, nothing the journal does not know: one provider job per tool call that made a task.
                Assert.Equal(300, sandbox.Counters.AcceptedSubmissions);
                using var reader = new PostgresTaskJournal(journal);
                Assert.Equal(300, reader.List(null, 1000).Count(t => t.State == TaskState.Finished));
                var wall = result.GetProperty("wall_ms").GetDouble() / 1000;
                figures.Add(string.Create(CultureInfo.InvariantCulture, $"{replicas} replica(s): 100 workflows (300 tool calls) in {wall:0.0} s = {300 / wall:0.0} calls/s, tool latency p50 {result.GetProperty("p50_ms").GetInt32()} ms p95 {result.GetProperty("p95_ms").GetInt32()} ms, wait_task calls {result.GetProperty("waits").GetInt32()}"));
            }
            finally
            {
                foreach (var server in servers)
                {
                    await server.DisposeAsync();
                }
            }
        }

        // Figures only (shared, noisy machine): nothing asserts on time.
        Console.WriteLine("HTTP replicas (64-px candidates, sandbox jobs 0.2 s queued + 1.5 s running): " + string.Join("; ", figures));
    }

    [Fact]
    public async Task AReplicaKilledMidWaitOverHttpLosesNoTaskTheOthersFinishThemAll()
    {
        await using var sandbox = await SandboxAsync(new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(8)));
        var (token, hash) = HttpServerProcess.NewToken();
        var journal = await postgres.CreateDatabaseAsync("httpkill");
        var servers = await StartReplicasAsync(sandbox, journal, hash, 3);
        var clients = new List<McpClient>();
        try
        {
            foreach (var server in servers)
            {
                clients.Add(await ConnectAsync(server, token));
            }

            sandbox.Counters.Reset();

            // 24 imagines spread over the three replicas; each returns its task_id at once (wait_seconds 0).
            var ids = await Task.WhenAll(Enumerable.Range(0, 24).Select(async i =>
            {
                var result = await clients[i % 3].CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = $"kept through a crash {i}", ["wait_seconds"] = 0 });
                Assert.False(result.IsError == true, ServerProcess.Text(result));
                return (Replica: i % 3, Id: result.StructuredContent!.Value.GetProperty("task_id").GetString()!);
            }));

            // Every client waits on the replica it used; replica 3 dies (SIGKILL) while its waits are in flight.
            var waits = ids.Select(t => (t.Replica, t.Id, Wait: clients[t.Replica].CallToolAsync("wait_task", new Dictionary<string, object?> { ["task_id"] = t.Id, ["wait_seconds"] = 40 }).AsTask())).ToList();
            await Task.Delay(1000);
            servers[2].KillNine();

            var finished = 0;
            var takenUp = 0;
            foreach (var (replica, id, wait) in waits)
            {
                string? state = null;
                try
                {
                    var result = await wait;
                    state = result.StructuredContent?.GetProperty("state").GetString();
                }
                catch (Exception) when (replica == 2)
                {
                    // The replica died under this wait: the client takes it up on another replica.
                    takenUp++;
                }

                while (state != "finished")
                {
                    var result = await clients[replica == 2 ? 0 : replica].CallToolAsync("wait_task", new Dictionary<string, object?> { ["task_id"] = id, ["wait_seconds"] = 40 });
                    Assert.False(result.IsError == true, ServerProcess.Text(result));
                    state = result.StructuredContent!.Value.GetProperty("state").GetString();
                }

                finished++;
            }

            // 0 lost, 0 duplicated: the provider made 24 jobs, the journal knows 24 finished tasks and no uncertain submit.
            Assert.Equal(24, finished);
            Assert.True(takenUp > 0, "no wait was in flight on the killed replica");
            Assert.Equal(24, sandbox.Counters.AcceptedSubmissions);
            using var reader = new PostgresTaskJournal(journal);
            var tasks = reader.List(null, 100);
            Assert.Equal(ids.Select(t => t.Id).Order(StringComparer.Ordinal), tasks.Select(t => t.TaskId).Order(StringComparer.Ordinal));
            Assert.All(tasks, t => Assert.Equal(TaskState.Finished, t.State));
            Assert.Empty(reader.UncertainIntents());
        }
        finally
        {
            foreach (var client in clients)
            {
                try
                {
                    await client.DisposeAsync();
                }
                catch (Exception)
                {
                    // The killed replica's session cannot be closed.
                }
            }

            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Replicas on one journal with one token; the first runs the webhook receiver and the others name it as the URL the
    /// provider is told (as behind a load balancer), so a webhook reaches the first and NOTIFY wakes the waiter wherever it is.
    /// </summary>
    private static async Task<List<HttpServerProcess>> StartReplicasAsync(SandboxServer sandbox, string journal, string hash, int count)
    {
        var port = Paths.FreePort();
        var servers = new List<HttpServerProcess>();
        for (var i = 0; i < count; i++)
        {
            var env = new Dictionary<string, string?>
            {
                ["MJMCP_API_KEY"] = Key,
                ["MJMCP_BASE_URL"] = sandbox.BaseUrl.ToString(),
                ["MJMCP_JOURNAL"] = journal,
                ["MJMCP_HTTP_TOKENS"] = "team=" + hash,
            };
            if (i == 0)
            {
                env["MJMCP_WEBHOOK_PORT"] = port.ToString(CultureInfo.InvariantCulture);
            }
            else
            {
                env["MJMCP_WEBHOOK_URL"] = $"http://127.0.0.1:{port}/mjmcp/webhook";
            }

            servers.Add(await HttpServerProcess.StartAsync(env));
        }

        return servers;
    }

    private static async Task<McpClient> ConnectAsync(HttpServerProcess server, string token)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = server.McpUrl,
            TransportMode = HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        });
        return await McpClient.CreateAsync(transport, new McpClientOptions { ProtocolVersion = "2025-11-25" });
    }

    private static Task<SandboxServer> SandboxAsync(SandboxTiming timing) =>
        SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, DataDirectory = Paths.TempDir("http-replica-sandbox"), Timing = timing, CandidateSize = 64 });
}
