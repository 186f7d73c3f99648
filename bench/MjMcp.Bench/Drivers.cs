using System.Diagnostics;
using System.Text.Json;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using MjMcp.Sandbox;
using MjMcp.Server;

namespace MjMcp.Bench;

/// <summary>One side of a comparison: runs the workflow imagine → upscale_1x → pan, and reports each call's time.</summary>
internal interface IWorkflowDriver : IAsyncDisposable
{
    string Label { get; }

    /// <summary>Runs workflow <paramref name="i"/>; adds each call's seconds (submit to finished) to <paramref name="callSeconds"/>.</summary>
    Task RunAsync(int i, List<double>? callSeconds);
}

/// <summary>
/// The SDK alone, straight to a sandbox (the typed client of the shipped spec): with its default polling and no webhook,
/// or with webhooks through the server library's receiver (<see cref="WebhookReceiver"/>, the code mjmcp runs for its
/// embedded sandbox), so that each mjmcp mode has a baseline doing the same waiting.
/// </summary>
internal sealed class SdkDriver : IWorkflowDriver
{
    private readonly SandboxServer _sandbox;
    private readonly MidjourneyClient _mj;
    private readonly HttpClient _http = new();
    private WebhookReceiver? _webhooks;

    private SdkDriver(SandboxServer sandbox)
    {
        _sandbox = sandbox;
        _mj = new MidjourneyClient(_http, new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = Bench.SandboxKey });
    }

    public string Label => _webhooks is null ? "SDK straight to a sandbox (polling)" : "SDK straight to a sandbox, webhooks";

    /// <summary>Webhooks are on: the baseline of mjmcp's default mode.</summary>
    public bool Webhooks => _webhooks is not null;

    public static async Task<SdkDriver> StartAsync(bool webhooks = false)
    {
        var driver = new SdkDriver(await Bench.StartSandboxAsync());
        if (webhooks)
        {
            driver._webhooks = await WebhookReceiver.StartAsync(driver._mj, new WebhookReceiverOptions());
        }

        return driver;
    }

    public async Task RunAsync(int i, List<double>? callSeconds)
    {
        var clock = Stopwatch.StartNew();
        var grid = await _mj.ImagineAsync("bench workflow " + i).WaitAsync();
        Lap(callSeconds, clock);
        var pick = await _mj.Upscale1xAsync(grid, 1 + (i % 4)).WaitAsync();
        Lap(callSeconds, clock);
        await _mj.PanAsync(pick, PanDirection.Right).WaitAsync();
        Lap(callSeconds, clock);
    }

    internal static void Lap(List<double>? callSeconds, Stopwatch clock)
    {
        callSeconds?.Add(clock.Elapsed.TotalSeconds);
        clock.Restart();
    }

    public async ValueTask DisposeAsync()
    {
        if (_webhooks is not null)
        {
            await _webhooks.DisposeAsync();
        }

        _http.Dispose();
        await _sandbox.DisposeAsync();
        Bench.Delete(_sandbox.Options.DataDirectory);
    }
}

/// <summary>
/// One mjmcp process over stdio (the C# MCP client), either pointed at a sandbox in this process as "the provider" (a key,
/// so the SDK's default polling and no webhook: the same polling as <see cref="SdkDriver"/>) or in its default mode (no
/// key: its own embedded sandbox and webhooks). A call that returns before its task finished is followed by wait_task.
/// </summary>
internal sealed class McpDriver : IWorkflowDriver
{
    private static readonly object StderrLock = new();
    private readonly McpClient _client;
    private readonly SandboxServer? _sandbox;
    private int _waitCalls;

    private McpDriver(string label, McpClient client, SandboxServer? sandbox, string dataDir, McpMode mode)
    {
        Label = label;
        Mode = mode;
        _client = client;
        _sandbox = sandbox;
        DataDir = dataDir;
    }

    public string Label { get; }

    public McpMode Mode { get; }

    public string DataDir { get; }

    /// <summary>wait_task calls needed so far (tool calls that came back before their task finished).</summary>
    public int WaitCalls => Volatile.Read(ref _waitCalls);

    /// <summary>The server process (found by its unique data directory on the command line).</summary>
    public int? Pid => Machine.FindPid(DataDir);

    public static Task<McpDriver> StartAsync(Build build, bool embedded) => StartAsync(build, embedded ? McpMode.Embedded : McpMode.Provider);

    public static async Task<McpDriver> StartAsync(Build build, McpMode mode)
    {
        var embedded = mode == McpMode.Embedded;
        var sandbox = embedded ? null : await Bench.StartSandboxAsync();
        var dataDir = Bench.TempDir("server");
        var env = new Dictionary<string, string?>
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["MJMCP_API_KEY"] = sandbox is null ? string.Empty : Bench.SandboxKey,
            ["MJMCP_BASE_URL"] = sandbox?.BaseUrl.ToString() ?? string.Empty,
            ["MJMCP_SANDBOX_TIMING"] = string.Empty, // the default (brisk)
            ["MJMCP_WAIT_SECONDS"] = string.Empty, // the default (40 s)
            // With a key the server would hold 100 workflows to 12 jobs at once (spend cap); the SDK side has no cap.
            ["MJMCP_MAX_CONCURRENT_SUBMITS"] = sandbox is null ? string.Empty : "0",
            ["MJMCP_PREVIEWS"] = mode == McpMode.ProviderLink ? "link" : string.Empty,
        };
        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "mjmcp",
            Command = build.Command,
            Arguments = [.. build.Arguments, "--data-dir", dataDir],
            EnvironmentVariables = env,
            // MJMCP_BENCH_STDERR=FILE keeps the servers' stderr (every process appends to it), for a failure's cause.
            StandardErrorLines = Environment.GetEnvironmentVariable("MJMCP_BENCH_STDERR") is { Length: > 0 } log
                ? line => { lock (StderrLock) { File.AppendAllLines(log, [line]); } }
                : _ => { },
            ShutdownTimeout = TimeSpan.FromSeconds(10),
        });
        var client = await McpClient.CreateAsync(transport, new McpClientOptions { ClientInfo = new Implementation { Name = "mjmcp-bench", Version = "1.0" } });
        var label = mode switch
        {
            McpMode.Embedded => $"mjmcp {build.Label}, default (embedded sandbox)",
            McpMode.ProviderLink => $"MCP: mjmcp {build.Label} → sandbox, previews as links",
            _ => $"MCP: mjmcp {build.Label} → sandbox",
        };
        return new McpDriver(label, client, sandbox, dataDir, mode);
    }

    public async Task RunAsync(int i, List<double>? callSeconds)
    {
        var clock = Stopwatch.StartNew();
        var grid = await FinishedAsync("imagine", new() { ["prompt"] = "bench workflow " + i });
        SdkDriver.Lap(callSeconds, clock);
        var pick = await FinishedAsync("upscale_1x", new() { ["parent_task_id"] = grid.GetProperty("task_id").GetString(), ["index"] = 1 + (i % 4) });
        SdkDriver.Lap(callSeconds, clock);
        await FinishedAsync("pan", new() { ["parent_task_id"] = pick.GetProperty("task_id").GetString(), ["direction"] = "right" });
        SdkDriver.Lap(callSeconds, clock);
    }

    private async Task<JsonElement> FinishedAsync(string tool, Dictionary<string, object?> args)
    {
        var result = await _client.CallToolAsync(tool, args);
        while (true)
        {
            if (result.IsError == true || result.StructuredContent is not { } content)
            {
                throw new InvalidOperationException($"{tool}: " + string.Join(" ", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
            }

            if (content.GetProperty("state").GetString() == "finished")
            {
                return content;
            }

            Interlocked.Increment(ref _waitCalls);
            tool = "wait_task";
            result = await _client.CallToolAsync(tool, new Dictionary<string, object?> { ["task_id"] = content.GetProperty("task_id").GetString() });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _client.DisposeAsync();
        if (_sandbox is not null)
        {
            await _sandbox.DisposeAsync();
            Bench.Delete(_sandbox.Options.DataDirectory);
        }

        Bench.Delete(DataDir);
    }
}

/// <summary>How an mjmcp process is run.</summary>
internal enum McpMode
{
    /// <summary>A key, a sandbox in the bench process as "the provider": polling, inline previews from the downloaded PNG.</summary>
    Provider,

    /// <summary>As <see cref="Provider"/>, with MJMCP_PREVIEWS=link: no preview is made on the call.</summary>
    ProviderLink,

    /// <summary>The default mode: no key, its own embedded sandbox, webhooks, previews handed over by the sandbox.</summary>
    Embedded,
}

/// <summary>An mjmcp build to run: NativeAOT (the binary) or JIT (dotnet mjmcp.dll).</summary>
internal sealed record Build(string Label, string Command, IReadOnlyList<string> Arguments);
