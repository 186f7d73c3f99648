// MCP9005: logging/setLevel is deprecated from protocol revision 2026-07-28 on; the logging test is a 2025-11-25 client.
#pragma warning disable MCP9005
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace MjMcp.Server.Tests;

/// <summary>
/// MCP over Streamable HTTP (<c>mjmcp serve --http</c>) from outside: bearer tokens (401 without a right one), health
/// endpoints, each client's tasks its own (another client's task is exactly an unknown one) unless the shared scope
/// is on, the official TypeScript SDK's StreamableHTTPClientTransport and the MCP Inspector CLI in HTTP mode, and
/// concurrent workflows. The "provider" is the fixture's sandbox, so the tests can look for its API key in every answer.
/// </summary>
public sealed class HttpTransportTests : IClassFixture<SandboxFixture>
{
    private const string Initialize = """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}""";
    private readonly SandboxFixture _fixture;

    public HttpTransportTests(SandboxFixture fixture) => _fixture = fixture;

    private string ProviderKey => _fixture.Sandbox.Options.ApiKey!;

    private Dictionary<string, string?> Env(string tokens, bool shared = false) => new()
    {
        ["MJMCP_API_KEY"] = ProviderKey,
        ["MJMCP_BASE_URL"] = _fixture.Sandbox.BaseUrl.ToString(),
        ["MJMCP_HTTP_TOKENS"] = tokens,
        ["MJMCP_HTTP_SHARED_SCOPE"] = shared ? "true" : null,
    };

    [Fact]
    public async Task WithoutTheRightTokenMcpAnswers401ButHealthAnswers()
    {
        // The token as mjmcp token new prints it: the server is configured with the printed hash.
        var (exit, printed, _) = await HttpServerProcess.RunCliAsync([], "token", "new", "laptop");
        Assert.Equal(0, exit);
        var token = Line(printed, "token: ");
        var hash = Line(printed, "hash: ");
        Assert.Equal(HttpServerProcess.Hash(token), hash);
        Assert.Contains($"MJMCP_HTTP_TOKENS=laptop={hash}", printed, StringComparison.Ordinal);

        await using var server = await HttpServerProcess.StartAsync(Env($"laptop={hash}"));
        using var http = new HttpClient();

        using (var none = await http.SendAsync(Post(server.McpUrl, null)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Contains("mjmcp token new", await none.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var wrongToken = HttpServerProcess.NewToken().Token;
        using (var wrong = await http.SendAsync(Post(server.McpUrl, wrongToken)))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.Contains("invalid_token", wrong.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
        }

        using (var right = await http.SendAsync(Post(server.McpUrl, token)))
        {
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
            Assert.Contains("\"serverInfo\"", await right.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using (var healthz = await http.GetAsync(new Uri(server.BaseUrl, "/healthz")))
        {
            Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        }

        using (var readyz = await http.GetAsync(new Uri(server.BaseUrl, "/readyz")))
        {
            Assert.Equal(HttpStatusCode.OK, readyz.StatusCode);
            Assert.Equal("ready", (await readyz.Content.ReadAsStringAsync()).Trim());
        }

        // Neither token (nor the provider key) is ever logged.
        var log = string.Join("\n", server.Stderr);
        Assert.DoesNotContain(token, log, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongToken, log, StringComparison.Ordinal);
        Assert.DoesNotContain(ProviderKey, log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadinessIsUnhealthyWithTheReasonWhenTheJournalCannotBeReadOrTheBackendIsNotUp()
    {
        // (A running server's SQLite journal cannot be broken from outside: its pooled connections keep the old file.
        // The endpoint's 200 is checked above; here the checks behind /readyz's 503.)
        var broken = new MjMcp.Server.Http.JournalReadyCheck(() => throw new Microsoft.Data.Sqlite.SqliteException("file is not a database", 26), "/data/journal.db");
        var result = await broken.CheckHealthAsync(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckContext());
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, result.Status);
        Assert.Contains("/data/journal.db", result.Description, StringComparison.Ordinal);
        Assert.Contains("file is not a database", result.Description, StringComparison.Ordinal);

        using var lifetime = new Lifetime();
        var backend = new Microsoft.Extensions.DependencyInjection.MjMcpHttpExtensions.BackendReadyCheck(lifetime, new ServerSettings { Backend = "embedded sandbox" });
        Assert.Equal("the backend is still starting", (await backend.CheckHealthAsync(new())).Description);
        lifetime.Started.Cancel();
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy, (await backend.CheckHealthAsync(new())).Status);
        lifetime.Stopping.Cancel();
        Assert.Equal("the server is stopping", (await backend.CheckHealthAsync(new())).Description);
    }

    [Fact]
    public async Task AnotherClientsTaskIsAnUnknownTaskForFetchWaitParentResourcesAndLists()
    {
        var (tokenA, hashA) = HttpServerProcess.NewToken();
        var (tokenB, hashB) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"alice={hashA},bob={hashB}"));
        using var findings = await OwnershipAsync(server, tokenA, tokenB);
        var root = findings.RootElement;
        var a = root.GetProperty("a");
        var b = root.GetProperty("b");

        // A: the tools, imagine with progress notifications, upscale_1x on its grid, its own task as a resource.
        Assert.Contains("imagine", root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(("grid", "finished"), (a.GetProperty("grid").GetProperty("stage").GetString(), a.GetProperty("grid").GetProperty("state").GetString()));
        Assert.Equal(("upscaled", "finished"), (a.GetProperty("up").GetProperty("stage").GetString(), a.GetProperty("up").GetProperty("state").GetString()));
        Assert.True(a.GetProperty("progress").GetInt32() > 0, "no progress notification reached the HTTP client");
        Assert.True(a.GetProperty("read").GetProperty("ok").GetBoolean());
        var gridId = a.GetProperty("grid").GetProperty("task_id").GetString()!;
        var upId = a.GetProperty("up").GetProperty("task_id").GetString()!;

        // B: A's tasks are exactly unknown ones: the same code and text as a made-up id, nothing sent for the upscale.
        var unknown = b.GetProperty("unknownFetch");
        Assert.Equal("unknown_task", unknown.GetProperty("code").GetString());
        foreach (var name in new[] { "fetch", "wait", "upscale" })
        {
            var refused = b.GetProperty(name);
            Assert.True(refused.GetProperty("isError").GetBoolean(), $"B's {name} of A's task was not refused: {refused}");
            Assert.Equal("unknown_task", refused.GetProperty("code").GetString());
            Assert.DoesNotContain(upId, refused.GetProperty("text").GetString(), StringComparison.Ordinal);
        }

        Assert.Equal(unknown.GetProperty("text").GetString()!.Replace("00000000-0000-4000-8000-000000000000", gridId, StringComparison.Ordinal), b.GetProperty("fetch").GetProperty("text").GetString());
        var unknownRead = b.GetProperty("unknownRead");
        foreach (var name in new[] { "read", "preview" })
        {
            var refused = b.GetProperty(name);
            Assert.False(refused.GetProperty("ok").GetBoolean(), $"B read A's task: {refused}");
            Assert.Equal(unknownRead.GetProperty("code").GetInt32(), refused.GetProperty("code").GetInt32());
        }

        Assert.Equal(unknownRead.GetProperty("text").GetString()!.Replace("00000000-0000-4000-8000-000000000000", gridId, StringComparison.Ordinal), b.GetProperty("read").GetProperty("text").GetString());

        // Lists: B sees only its own task (not A's, not even as children of A's grid); A does not see B's.
        var listedByB = root.GetProperty("listedByB").EnumerateArray().Select(e => e.GetString()).ToList();
        var listedByA = root.GetProperty("listedByA").EnumerateArray().Select(e => e.GetString()).ToList();
        var bOwn = b.GetProperty("own").GetProperty("task_id").GetString();
        Assert.Equal([bOwn], listedByB);
        Assert.Equal([upId, gridId], listedByA);
        Assert.DoesNotContain(upId, b.GetProperty("children").GetProperty("text").GetString(), StringComparison.Ordinal);

        // The provider key is in no answer.
        Assert.DoesNotContain(ProviderKey, root.GetRawText(), StringComparison.Ordinal);
        Assert.DoesNotContain(tokenA, root.GetRawText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ATaskMadeOutsideTheServerBelongsToTheFirstClientThatNamesIt()
    {
        // A task made straight at the provider, not through this server: the journal does not know it.
        using var http = new HttpClient();
        using var submit = new HttpRequestMessage(HttpMethod.Post, new Uri(_fixture.Sandbox.BaseUrl, "imagine")) { Content = new StringContent("""{"prompt":"a lamp made elsewhere"}""", Encoding.UTF8, "application/json") };
        submit.Headers.TryAddWithoutValidation("Authorization", ProviderKey);
        using var accepted = await http.SendAsync(submit);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        using var body = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync());
        var taskId = body.RootElement.GetProperty("task_id").GetString()!;

        var (tokenA, hashA) = HttpServerProcess.NewToken();
        var (tokenB, hashB) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"alice={hashA},bob={hashB}"));
        await using var a = await ConnectAsync(server, tokenA);
        await using var b = await ConnectAsync(server, tokenB);

        var waited = await a.CallToolAsync("wait_task", new Dictionary<string, object?> { ["task_id"] = taskId });
        Assert.False(waited.IsError == true, ServerProcess.Text(waited));
        Assert.Equal(taskId, waited.StructuredContent!.Value.GetProperty("task_id").GetString());

        // From now on it is A's: B cannot fetch it or continue from it; A can.
        var fetchedByB = await b.CallToolAsync("fetch_task", new Dictionary<string, object?> { ["task_id"] = taskId });
        Assert.Equal("unknown_task", fetchedByB.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());
        var upscaledByB = await b.CallToolAsync("upscale_1x", new Dictionary<string, object?> { ["parent_task_id"] = taskId, ["index"] = 1 });
        Assert.Equal("unknown_task", upscaledByB.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());
        var upscaledByA = await a.CallToolAsync("upscale_1x", new Dictionary<string, object?> { ["parent_task_id"] = taskId, ["index"] = 1 });
        Assert.False(upscaledByA.IsError == true, ServerProcess.Text(upscaledByA));
    }

    [Fact]
    public async Task WithTheSharedScopeEveryClientSeesEveryTask()
    {
        var (tokenA, hashA) = HttpServerProcess.NewToken();
        var (tokenB, hashB) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"alice={hashA},bob={hashB}", shared: true));
        using var findings = await OwnershipAsync(server, tokenA, tokenB);
        var root = findings.RootElement;
        var b = root.GetProperty("b");
        var gridId = root.GetProperty("a").GetProperty("grid").GetProperty("task_id").GetString();
        var upId = root.GetProperty("a").GetProperty("up").GetProperty("task_id").GetString();
        Assert.Equal(gridId, b.GetProperty("fetch").GetProperty("task_id").GetString());
        Assert.Equal("finished", b.GetProperty("wait").GetProperty("state").GetString());
        Assert.Equal(("upscaled", "finished"), (b.GetProperty("upscale").GetProperty("stage").GetString(), b.GetProperty("upscale").GetProperty("state").GetString()));
        Assert.True(b.GetProperty("read").GetProperty("ok").GetBoolean());
        Assert.True(b.GetProperty("preview").GetProperty("ok").GetBoolean());
        Assert.Contains(upId!, b.GetProperty("children").GetProperty("text").GetString(), StringComparison.Ordinal);
        var listedByA = root.GetProperty("listedByA").EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains(b.GetProperty("own").GetProperty("task_id").GetString(), listedByA);
        Assert.Contains(gridId, root.GetProperty("listedByB").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task AnotherClientsTaskTakesTheSamePathAsAnUnknownId()
    {
        // Same text (above) and the same provider requests: the time to answer cannot tell "someone else's" from "none".
        var (tokenA, hashA) = HttpServerProcess.NewToken();
        var (tokenB, hashB) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"alice={hashA},bob={hashB}"));
        await using var a = await ConnectAsync(server, tokenA);
        await using var b = await ConnectAsync(server, tokenB);
        var grid = await a.CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = "a lantern on a pier" });
        Assert.True(grid.IsError != true, ServerProcess.Text(grid));
        var gridId = grid.StructuredContent!.Value.GetProperty("task_id").GetString()!;

        async Task<(int Fetches, string Code)> FetchAsB(string id)
        {
            var before = _fixture.Sandbox.Counters.Requests("/fetch");
            var result = await b.CallToolAsync("fetch_task", new Dictionary<string, object?> { ["task_id"] = id });
            Assert.True(result.IsError == true, ServerProcess.Text(result));
            return (_fixture.Sandbox.Counters.Requests("/fetch") - before, result.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString()!);
        }

        var unknown = await FetchAsB("00000000-0000-4000-8000-000000000000");
        var others = await FetchAsB(gridId);
        Assert.Equal(("unknown_task", 1), (unknown.Code, unknown.Fetches));
        Assert.Equal(unknown, others);
    }

    [Fact]
    public async Task LogNotificationsGoOnlyToTheClientWhoseCallWroteThem()
    {
        var (tokenA, hashA) = HttpServerProcess.NewToken();
        var (tokenB, hashB) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"alice={hashA},bob={hashB}"));

        // B connects first (with one session per process, the first client used to get every client's lines).
        await using var b = await ConnectAsync(server, tokenB);
        var seenByB = Listen(b);
        await b.SetLoggingLevelAsync(ModelContextProtocol.Protocol.LoggingLevel.Warning);
        await using var a = await ConnectAsync(server, tokenA);
        var seenByA = Listen(a);
        await a.SetLoggingLevelAsync(ModelContextProtocol.Protocol.LoggingLevel.Warning);

        // The sandbox's moderation fails a banned word: the server logs a warning naming the task.
        var aTask = await FailedTaskAsync(a, "a forbidden fox");
        var bTask = await FailedTaskAsync(b, "a forbidden owl");
        await Until(() => seenByA.Any(t => t.Contains(aTask, StringComparison.Ordinal)));
        await Until(() => seenByB.Any(t => t.Contains(bTask, StringComparison.Ordinal)));
        Assert.DoesNotContain(seenByB, t => t.Contains(aTask, StringComparison.Ordinal));
        Assert.DoesNotContain(seenByA, t => t.Contains(bTask, StringComparison.Ordinal));

        static async Task<string> FailedTaskAsync(ModelContextProtocol.Client.McpClient client, string prompt)
        {
            var result = await client.CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = prompt });
            Assert.True(result.IsError == true, ServerProcess.Text(result));
            return result.StructuredContent!.Value.GetProperty("task_id").GetString()!;
        }
    }

    private static async Task<ModelContextProtocol.Client.McpClient> ConnectAsync(HttpServerProcess server, string token)
    {
        var transport = new ModelContextProtocol.Client.HttpClientTransport(new ModelContextProtocol.Client.HttpClientTransportOptions
        {
            Endpoint = server.McpUrl,
            TransportMode = ModelContextProtocol.Client.HttpTransportMode.StreamableHttp,
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + token },
        });
        return await ModelContextProtocol.Client.McpClient.CreateAsync(transport, new ModelContextProtocol.Client.McpClientOptions { ProtocolVersion = "2025-11-25" });
    }

    private static System.Collections.Concurrent.ConcurrentQueue<string> Listen(ModelContextProtocol.Client.McpClient client)
    {
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        _ = client.RegisterNotificationHandler(ModelContextProtocol.Protocol.NotificationMethods.LoggingMessageNotification, (notification, _) =>
        {
            seen.Enqueue(notification.Params?.ToJsonString() ?? string.Empty);
            return default;
        });
        return seen;
    }

    /// <summary>A notification travels beside the result: give one on its way a moment (bounded, so a missing one fails).</summary>
    private static async Task Until(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(condition(), "the notification never came");
    }

    [Fact]
    public async Task InspectorCliInHttpModeListsToolsAndRunsImagine()
    {
        await ExternalClientTests.EnsureNpmPackagesAsync();
        var (token, hash) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"inspector={hash}"));
        var inspector = Path.Combine(ExternalClientTests.ExternalDir, "node_modules", ".bin", "mcp-inspector");
        string[] Cli(params string[] rest) => ["--cli", server.McpUrl.ToString(), "--transport", "http", "--header", $"Authorization: Bearer {token}", .. rest];

        var (exit, stdout, stderr) = await ExternalClientTests.RunAsync(inspector, Cli("--method", "tools/list"), []);
        Assert.True(exit == 0, $"inspector tools/list exited {exit}: {stdout} {stderr}");
        Assert.Contains("\"upscale_1x\"", stdout, StringComparison.Ordinal);

        (exit, stdout, stderr) = await ExternalClientTests.RunAsync(inspector, Cli("--method", "tools/call", "--tool-name", "imagine", "--tool-arg", "prompt=a blue heron"), []);
        Assert.True(exit == 0, $"inspector imagine exited {exit}: {stdout} {stderr}");
        using var result = JsonDocument.Parse(stdout);
        var structured = result.RootElement.GetProperty("structuredContent");
        Assert.Equal(("grid", "finished"), (structured.GetProperty("stage").GetString(), structured.GetProperty("state").GetString()));

        // Without the header the Inspector is turned away.
        (exit, _, _) = await ExternalClientTests.RunAsync(inspector, ["--cli", server.McpUrl.ToString(), "--transport", "http", "--method", "tools/list"], []);
        Assert.NotEqual(0, exit);
    }

    [Fact]
    public async Task TwentyConcurrentWorkflowsOverHttpAllSucceed()
    {
        await ExternalClientTests.EnsureNpmPackagesAsync();
        var (token, hash) = HttpServerProcess.NewToken();
        await using var server = await HttpServerProcess.StartAsync(Env($"load={hash}"));
        var (exit, stdout, stderr) = await ExternalClientTests.RunAsync("node", ["http-client.mjs", "workflows", server.McpUrl.ToString(), "20"], new() { ["TOKEN"] = token }, TimeSpan.FromMinutes(5));
        Assert.True(exit == 0, $"node exited {exit}: {stderr}");
        using var findings = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        Assert.Equal(20, findings.RootElement.GetProperty("workflows").GetInt32());
        Assert.Empty(findings.RootElement.GetProperty("failures").EnumerateArray());
    }

    [Fact]
    public async Task ANonLoopbackAddressWithoutTokensIsRefusedAndABadTokenSettingNamesTheFix()
    {
        var (exit, _, stderr) = await HttpServerProcess.RunCliAsync(new() { ["MJMCP_HTTP_TOKENS"] = null }, "serve", "--http", "0.0.0.0:0", "--data-dir", Paths.TempDir("http-refused"));
        Assert.Equal(2, exit);
        Assert.Contains("MJMCP_HTTP_TOKENS", stderr, StringComparison.Ordinal);
        Assert.Contains("mjmcp token new", stderr, StringComparison.Ordinal);

        // A token pasted where its hash belongs: refused, and the value is not echoed.
        var (token, _) = HttpServerProcess.NewToken();
        (exit, _, stderr) = await HttpServerProcess.RunCliAsync(new() { ["MJMCP_HTTP_TOKENS"] = $"ci={token}" }, "serve", "--http", "127.0.0.1:0", "--data-dir", Paths.TempDir("http-bad-token"));
        Assert.Equal(2, exit);
        Assert.Contains("sha256:", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(token, stderr, StringComparison.Ordinal);

        (exit, _, stderr) = await HttpServerProcess.RunCliAsync([], "serve", "--http", "example.com:80");
        Assert.Equal(2, exit);
        Assert.Contains("--http needs HOST:PORT", stderr, StringComparison.Ordinal);

        // mjmcp settings names the clients and never shows a hash; serve --help offers --http.
        var (_, hash) = HttpServerProcess.NewToken();
        (exit, var stdout, _) = await HttpServerProcess.RunCliAsync(new() { ["MJMCP_HTTP_TOKENS"] = $"ci={hash},laptop={hash}", ["MJMCP_HTTP_SHARED_SCOPE"] = "true" }, "settings");
        Assert.Equal(0, exit);
        Assert.Contains("Http:Tokens: ci, laptop (hashes not shown)", stdout, StringComparison.Ordinal);
        Assert.Contains("Http:SharedScope: true", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain(hash, stdout, StringComparison.Ordinal);
        (exit, stdout, _) = await HttpServerProcess.RunCliAsync([], "serve", "--help");
        Assert.Equal(0, exit);
        Assert.Contains("--http <HOST:PORT>", stdout, StringComparison.Ordinal);
    }

    private static async Task<JsonDocument> OwnershipAsync(HttpServerProcess server, string tokenA, string tokenB)
    {
        await ExternalClientTests.EnsureNpmPackagesAsync();
        var (exit, stdout, stderr) = await ExternalClientTests.RunAsync("node", ["http-client.mjs", "ownership", server.McpUrl.ToString()], new() { ["TOKEN_A"] = tokenA, ["TOKEN_B"] = tokenB });
        Assert.True(exit == 0, $"node exited {exit}: {stderr}\nserver: {string.Join("\n", server.Stderr)}");
        return JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
    }

    private static HttpRequestMessage Post(Uri url, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(Initialize, Encoding.UTF8, "application/json") };
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }

    private static string Line(string text, string prefix) =>
        text.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith(prefix, StringComparison.Ordinal))[prefix.Length..];

    private sealed class Lifetime : Microsoft.Extensions.Hosting.IHostApplicationLifetime, IDisposable
    {
        public CancellationTokenSource Started { get; } = new();

        public CancellationTokenSource Stopping { get; } = new();

        private CancellationTokenSource Stopped { get; } = new();

        public CancellationToken ApplicationStarted => Started.Token;

        public CancellationToken ApplicationStopping => Stopping.Token;

        public CancellationToken ApplicationStopped => Stopped.Token;

        public void StopApplication() => Stopping.Cancel();

        public void Dispose()
        {
            Started.Dispose();
            Stopping.Dispose();
            Stopped.Dispose();
        }
    }
}
