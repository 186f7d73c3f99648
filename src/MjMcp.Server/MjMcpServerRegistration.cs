using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using MjMcp.Sandbox;

namespace MjMcp.Server;

/// <summary>
/// The server's settings. <see cref="Load"/> reads MJMCP_* environment variables, then the <c>MjMcp</c>
/// configuration section (appsettings.json); the <c>configure</c> callback of
/// <see cref="MjMcpServerRegistration.AddMjMcpServer"/> (command-line flags) wins over both.
/// </summary>
public sealed class MjMcpServerOptions
{
    /// <summary>The most a tool ever waits in one call, whatever the agent asks (below the ~60 s clients allow).</summary>
    public const int MaxWaitSeconds = 50;

    /// <summary>The provider API key; none means the embedded sandbox. Never logged or returned.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The provider base URL (default: the spec's).</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The data directory (journal, sandbox tasks and images).</summary>
    public string DataDir { get; set; } = DefaultDataDir();

    /// <summary>How long a tool waits by default (0 to <see cref="MaxWaitSeconds"/>).</summary>
    public int WaitSeconds { get; set; } = 40;

    /// <summary>
    /// Port of the local webhook receiver (loopback). With the embedded sandbox it always runs (null or 0 = any free port);
    /// with a real provider only when set, and the provider must be able to reach it (e.g. through a tunnel).
    /// </summary>
    public int? WebhookPort { get; set; }

    /// <summary>The path of the webhook receiver.</summary>
    public string WebhookPath { get; set; } = "/mjmcp/webhook";

    /// <summary>
    /// Spend control: at most this many tool calls submit to the provider (and wait) at once; the rest queue in arrival
    /// order. Null: 12 with a real provider (an API key), no cap on the embedded sandbox (it costs nothing); 0: no cap.
    /// </summary>
    public int? MaxConcurrentSubmits { get; set; }

    /// <summary>More hosts previews may be fetched from, besides the provider's (MJMCP_PREVIEW_HOSTS, comma-separated).</summary>
    public IList<string> PreviewHosts { get; } = [];

    /// <summary>Embedded sandbox timing: instant, brisk or realistic.</summary>
    public string SandboxTiming { get; set; } = "brisk";

    /// <summary>The server's name in the MCP handshake (default: the entry assembly's name).</summary>
    public string? ServerName { get; set; }

    /// <summary>The server's human title in the MCP handshake.</summary>
    public string ServerTitle { get; set; } = "Midjourney workflow (MjMcp)";

    /// <summary>Reads the settings from MJMCP_* environment variables, else the <c>MjMcp</c> section of <paramref name="configuration"/>.</summary>
    public static MjMcpServerOptions Load(IConfiguration? configuration)
    {
        var file = configuration?.GetSection("MjMcp");
        string? Get(string env, string key) => Environment.GetEnvironmentVariable(env) is { Length: > 0 } value ? value : file?[key] is { Length: > 0 } fromFile ? fromFile : null;
        var options = new MjMcpServerOptions { ApiKey = Get("MJMCP_API_KEY", "ApiKey") };
        if (Get("MJMCP_BASE_URL", "BaseUrl") is { } baseUrl)
        {
            options.BaseUrl = Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                ? uri
                : throw new OptionsValidationException("BaseUrl", typeof(MjMcpServerOptions), [$"MJMCP_BASE_URL/BaseUrl '{baseUrl}' is not an absolute http(s) URL. Set it like https://api.apiframe.pro or leave it unset."]);
        }

        options.DataDir = Get("MJMCP_DATA_DIR", "DataDir") ?? options.DataDir;
        options.WaitSeconds = Int("MJMCP_WAIT_SECONDS", "WaitSeconds") ?? options.WaitSeconds;
        options.WebhookPort = Int("MJMCP_WEBHOOK_PORT", "WebhookPort");
        options.MaxConcurrentSubmits = Int("MJMCP_MAX_CONCURRENT_SUBMITS", "MaxConcurrentSubmits");
        foreach (var host in (Get("MJMCP_PREVIEW_HOSTS", "PreviewHosts") ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            options.PreviewHosts.Add(host);
        }
        options.WebhookPath = Get("MJMCP_WEBHOOK_PATH", "WebhookPath") ?? options.WebhookPath;
        options.SandboxTiming = Get("MJMCP_SANDBOX_TIMING", "SandboxTiming") ?? options.SandboxTiming;
        return options;

        int? Int(string env, string key) => Get(env, key) is not { } text ? null
            : int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) ? value
            : throw new OptionsValidationException(key, typeof(MjMcpServerOptions), [$"{env}/{key} '{text}' is not a whole number."]);
    }

    /// <summary>The per-user data directory (~/.local/share/mjmcp on Linux).</summary>
    public static string DefaultDataDir()
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create);
        return Path.Combine(string.IsNullOrEmpty(root) ? Path.GetTempPath() : root, "mjmcp");
    }

    /// <summary>The sandbox timing by name; an unknown name is an error that lists the known ones.</summary>
    public SandboxTiming Timing() => SandboxTiming.ToLowerInvariant() switch
    {
        "instant" => MjMcp.Sandbox.SandboxTiming.Instant,
        "realistic" => MjMcp.Sandbox.SandboxTiming.Realistic,
        "brisk" => new MjMcp.Sandbox.SandboxTiming(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3)),
        _ => throw new OptionsValidationException("SandboxTiming", typeof(MjMcpServerOptions), [$"Sandbox timing '{SandboxTiming}' is unknown. Use instant, brisk or realistic."]),
    };
}

/// <summary>
/// Registers an MCP server for a spec: the generated tools with check-before-spend, bounded waits with
/// progress, <c>next_actions</c>, refusals with fixes, the task journal, previews, resources and the workflow
/// prompt; with no API key an embedded sandbox that serves the spec. The generated
/// <c>AddMidjourneyMcpServer()</c> extension calls this with the consumer's spec; <c>mjmcp</c> is built on it.
/// </summary>
public static class MjMcpServerRegistration
{
    /// <summary>The server's instructions to the client, written from the spec's rule table.</summary>
    public static string Instructions(McpSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return WorkflowGuide.Instructions(spec.Rules);
    }

    /// <summary>
    /// Adds the MCP server for <paramref name="spec"/> to <paramref name="builder"/> and sends every log line to
    /// stderr (stdout carries JSON-RPC only). Add a transport to the returned builder: <c>.WithStdioTransport()</c> (see <see cref="Microsoft.Extensions.DependencyInjection.MjMcpStdioExtensions"/>).
    /// </summary>
    /// <param name="builder">The host builder.</param>
    /// <param name="spec">The generated spec (<c>MidjourneyToolDefinitions.Spec</c>).</param>
    /// <param name="configure">Overrides the settings read from the environment and configuration.</param>
    public static IMcpServerBuilder AddMjMcpServer(this IHostApplicationBuilder builder, McpSpec spec, Action<MjMcpServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(spec);
        var options = MjMcpServerOptions.Load(builder.Configuration);
        configure?.Invoke(options);
        options.WaitSeconds = Math.Clamp(options.WaitSeconds, 0, MjMcpServerOptions.MaxWaitSeconds);
        _ = options.Timing(); // an unknown timing name fails here, before anything starts
        Directory.CreateDirectory(options.DataDir);

        // stdout carries JSON-RPC only: every log line goes to stderr.
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        var services = builder.Services;
        services.AddSingleton(spec);
        services.AddSingleton(options);
        services.AddSingleton<ServerBackend>();

        // Registered before the MCP transport's hosted service, so the backend is up before the first request.
        services.AddHostedService(sp => sp.GetRequiredService<ServerBackend>());
        services.AddSingleton(new ServerSettings { WaitSeconds = options.WaitSeconds, MaxWaitSeconds = MjMcpServerOptions.MaxWaitSeconds, MaxConcurrentSubmits = options.MaxConcurrentSubmits ?? (options.ApiKey is null ? 0 : 12) });

        // SIGTERM/SIGINT (the console lifetime) stop the server; in-flight calls get at most 5 s to finish or cancel.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        services.AddMjClient(static (http, clientOptions, sp) => new MjClient(http, clientOptions, sp.GetRequiredService<McpSpec>().Rules, sp.GetService<ILogger<MjClient>>(), sp.GetService<TimeProvider>()));
        services.AddOptions<MidjourneyOptions>().Configure<ServerBackend>((o, backend) => backend.Configure(o));
        services.AddSingleton(new TaskJournal(Path.Combine(options.DataDir, "journal.db")));
        services.AddHttpClient("previews");
        services.AddSingleton(sp => new PreviewService(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("previews"),
            sp.GetRequiredService<ILogger<PreviewService>>(),
            PreviewService.ProviderHosts(sp.GetRequiredService<IOptions<MidjourneyOptions>>().Value.BaseUrl ?? new Uri(spec.Rules.Provider.BaseUrl), options.PreviewHosts)));
        services.AddSingleton<ToolRuntime>();

        var entry = Assembly.GetEntryAssembly()?.GetName();
        return services
            .AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation
                {
                    Name = options.ServerName ?? entry?.Name ?? "mjmcp",
                    Title = options.ServerTitle,
                    Version = entry?.Version?.ToString(3) ?? typeof(MjMcpServerRegistration).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
                };
                o.ServerInstructions = Instructions(spec);
            })
            .WithTools(ToolCatalog.Tools(spec))
            .WithResources(TaskResource.All())
            .WithPrompts([new WorkflowPrompt(spec.Rules)]);
    }
}

/// <summary>
/// The backend behind the tools: the provider from the settings, or (with no API key) an embedded sandbox that
/// serves the spec, plus the webhook receiver that wakes waiting tools. Starts before the MCP transport.
/// </summary>
internal sealed partial class ServerBackend : IHostedService, IAsyncDisposable
{
    private const string SandboxKey = "sandbox-local-key";
    private readonly MjMcpServerOptions _options;
    private readonly McpSpec _spec;
    private readonly IServiceProvider _services;
    private readonly ServerSettings _settings;
    private readonly ILogger _logger;
    private SandboxServer? _sandbox;
    private WebhookReceiver? _webhook;

    public ServerBackend(MjMcpServerOptions options, McpSpec spec, ServerSettings settings, IServiceProvider services, ILoggerFactory loggers)
    {
        _options = options;
        _spec = spec;
        _settings = settings;
        _services = services;
        _logger = loggers.CreateLogger("MjMcp.Server");
    }

    /// <summary>Points the provider client at the sandbox or the configured provider.</summary>
    public void Configure(MidjourneyOptions o)
    {
        if (_sandbox is { } sandbox)
        {
            o.BaseUrl = sandbox.BaseUrl;
            o.ApiKey = SandboxKey;

            // Loopback is cheap: poll briskly.
            o.PollInitialDelay = TimeSpan.FromMilliseconds(150);
            o.PollMinInterval = TimeSpan.FromMilliseconds(150);
            o.PollMaxInterval = TimeSpan.FromSeconds(2);
        }
        else
        {
            o.BaseUrl = _options.BaseUrl;
            o.ApiKey = _options.ApiKey;
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // The journal (SQLite) and the sandbox's storage do short synchronous I/O on pool threads; with many tool
        // calls at once on a 2-core machine the pool's slow growth would let submits queue for tens of seconds.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), io);

        if (_options.ApiKey is null)
        {
            _sandbox = await SandboxServer.StartAsync(
                new SandboxOptions { DataDirectory = Path.Combine(_options.DataDir, "sandbox"), Timing = _options.Timing(), ApiKey = SandboxKey, Spec = _spec.Rules },
                cancellationToken).ConfigureAwait(false);
        }

        _settings.Backend = _sandbox is { } s ? $"embedded sandbox at {s.BaseUrl}" : $"provider {_options.BaseUrl?.ToString() ?? _spec.Rules.Provider.BaseUrl}";

        // Webhooks wake waiting tools at once and keep the journal current; polling stays the fallback.
        if (_sandbox is not null || _options.WebhookPort is not null)
        {
            // The secret (and, unless configured, the port) persist in the data directory: a callback for a submit
            // made before a crash or restart still reaches the receiver, passes its secret check and recovers the intent.
            var secret = WebhookSecret();
            var client = _services.GetRequiredService<MjClient>();
            var portFile = Path.Combine(_options.DataDir, "webhook.port");
            var port = _options.WebhookPort ?? (int.TryParse(ReadOrNull(portFile), NumberStyles.None, CultureInfo.InvariantCulture, out var saved) ? saved : 0);
            try
            {
                _webhook = await WebhookReceiver.StartAsync(client, new WebhookReceiverOptions { Port = port, Path = _options.WebhookPath, Secret = secret }, _logger, cancellationToken).ConfigureAwait(false);
            }
            catch (IOException) when (_options.WebhookPort is null && port != 0)
            {
                // The saved port is taken now: any free one (callbacks for older submits then miss this server).
                _webhook = await WebhookReceiver.StartAsync(client, new WebhookReceiverOptions { Port = 0, Path = _options.WebhookPath, Secret = secret }, _logger, cancellationToken).ConfigureAwait(false);
            }

            if (_options.WebhookPort is null)
            {
                await File.WriteAllTextAsync(portFile, _webhook.Url.Port.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
            }

            var journal = _services.GetRequiredService<TaskJournal>();
            _webhook.Updated += update => journal.ApplyWebhook(update.Update, update.IntentId, _spec.Rules);
        }

        Log.Started(_logger, _settings.Backend, _options.DataDir);
        if (!Console.IsInputRedirected)
        {
            await Console.Error.WriteLineAsync($"mjmcp: MCP server on stdio, waiting for an MCP client (backend: {_settings.Backend}).\nmjmcp: Ctrl+C stops.").ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken) => await DisposeAsync().ConfigureAwait(false);

    private static string? ReadOrNull(string path)
    {
        try
        {
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The webhook secret of this data directory: made once (random, file mode 0600), then reused. Never logged.</summary>
    private string WebhookSecret()
    {
        var path = Path.Combine(_options.DataDir, "webhook.secret");
        if (ReadOrNull(path) is { Length: >= 32 } existing)
        {
            return existing;
        }

        var secret = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var writer = new StreamWriter(path, System.Text.Encoding.ASCII, options))
        {
            writer.Write(secret);
        }

        return secret;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _webhook, null) is { } webhook)
        {
            await webhook.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _sandbox, null) is { } sandbox)
        {
            await sandbox.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "MCP server ready; backend: {Backend}; data: {DataDir}")]
        public static partial void Started(ILogger logger, string backend, string dataDir);
    }
}
