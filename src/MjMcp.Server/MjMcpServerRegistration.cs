using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using MjMcp.Sandbox;

namespace MjMcp.Server;

/// <summary>
/// The server's settings, bound through Microsoft.Extensions.Configuration: the <c>MjMcp</c> configuration section
/// (appsettings.json), overridden by MJMCP_* environment variables (<see cref="Load"/>); the <c>configure</c> callback of
/// <see cref="MjMcpServerRegistration.AddMjMcpServer"/> (command-line flags) wins over both. <see cref="Validate"/> checks
/// the result with <see cref="MjMcpServerOptionsValidator"/> before anything starts.
/// </summary>
public sealed class MjMcpServerOptions
{
    /// <summary>The most a tool ever waits in one call, whatever the agent asks (below the ~60 s clients allow).</summary>
    public const int MaxWaitSeconds = 50;

    /// <summary>The configuration section the settings are read from.</summary>
    public const string Section = "MjMcp";

    /// <summary>The provider API key; none means the embedded sandbox. Never logged or returned.</summary>
    public string? ApiKey { get; set; }

    /// <summary>The provider base URL (default: the spec's).</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The data directory (journal, sandbox tasks and images).</summary>
    [Required(AllowEmptyStrings = false, ErrorMessage = "empty: set MJMCP_DATA_DIR, --data-dir or MjMcp:DataDir to a writable folder, or leave it unset for the per-user data folder.")]
    public string DataDir { get; set; } = DefaultDataDir();

    /// <summary>How long a tool waits by default (0 to <see cref="MaxWaitSeconds"/>).</summary>
    public int WaitSeconds { get; set; } = 40;

    /// <summary>
    /// Port of the local webhook receiver (loopback). With the embedded sandbox it always runs (null or 0 = any free port);
    /// with a real provider only when set, and the provider must be able to reach it (e.g. through a tunnel).
    /// </summary>
    public int? WebhookPort { get; set; }

    /// <summary>The path of the webhook receiver.</summary>
    [RegularExpression("^/[A-Za-z0-9._~/-]*$", ErrorMessage = "must be a URL path such as /mjmcp/webhook (a leading / and letters, digits, . _ ~ - /): fix MJMCP_WEBHOOK_PATH, --webhook-path or MjMcp:WebhookPath.")]
    public string WebhookPath { get; set; } = "/mjmcp/webhook";

    /// <summary>
    /// Spend control: at most this many tool calls submit to the provider (and wait) at once; the rest queue in arrival
    /// order. Null: 12 with a real provider (an API key), no cap on the embedded sandbox (it costs nothing); 0: no cap.
    /// </summary>
    public int? MaxConcurrentSubmits { get; set; }

    /// <summary>Spending guard: at most this many credits per server process (MJMCP_BUDGET_CREDITS); null: no limit.</summary>
    public int? BudgetCredits { get; set; }

    /// <summary>Spending guard: at most this many credits per UTC day, shared by the servers on one journal (MJMCP_DAILY_BUDGET_CREDITS); null: no limit.</summary>
    public int? DailyBudgetCredits { get; set; }

    /// <summary>
    /// Where the task journal lives (MJMCP_JOURNAL): unset for SQLite in the data directory; a PostgreSQL connection
    /// string (Host=…;Database=…;Username=…) for a journal that replicas share. Shown without its password.
    /// </summary>
    public string? Journal { get; set; }

    /// <summary>
    /// The webhook URL the provider is told (MJMCP_WEBHOOK_URL), when it is not this server's own receiver: a load
    /// balancer or tunnel in front of the replicas' receivers. Null: the local receiver's URL.
    /// </summary>
    public Uri? WebhookUrl { get; set; }

    /// <summary>
    /// max_concurrent_jobs (MJMCP_MAX_CONCURRENT_JOBS): at most this many provider jobs run at once, each slot held from
    /// submit until the task is finished or failed; with a PostgreSQL journal counted across every replica on it. Null or 0: no cap.
    /// </summary>
    public int? MaxConcurrentJobs { get; set; }

    /// <summary>More hosts previews may be fetched from, besides the provider's (MJMCP_PREVIEW_HOSTS, comma-separated).</summary>
    public IList<string> PreviewHosts { get; } = [];

    /// <summary>
    /// How finished tasks show their image (MJMCP_PREVIEWS): <c>inline</c> (the default) puts a light JPEG preview in
    /// the tool result, so an agent sees the grid it picks from; <c>link</c> puts a resource link to
    /// <c>mj://tasks/{id}/preview.png</c> instead, and the preview is made only when a client reads it. With a real
    /// provider an inline preview costs a download and a full PNG decode per finished task (tens of milliseconds of CPU
    /// for a 2048-px grid); <c>link</c> leaves that to the reads, for agents that seldom look.
    /// </summary>
    [AllowedValues("inline", "link", ErrorMessage = "must be inline or link: fix MJMCP_PREVIEWS, --previews or MjMcp:Previews (default inline).")]
    public string Previews { get; set; } = "inline";

    /// <summary>Embedded sandbox timing: instant, brisk or realistic.</summary>
    [AllowedValues("instant", "brisk", "realistic", ErrorMessage = "must be one of instant, brisk, realistic: fix MJMCP_SANDBOX_TIMING, --sandbox-timing or MjMcp:SandboxTiming (default brisk).")]
    public string SandboxTiming { get; set; } = "brisk";

    /// <summary>
    /// Where traces, metrics and logs are exported over OTLP (MJMCP_OTLP_ENDPOINT, --otlp-endpoint), e.g. http://localhost:4317
    /// (gRPC, the default) or http://localhost:4318 with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf. Unset: the standard
    /// OTEL_EXPORTER_OTLP_ENDPOINT, else nothing is exported.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>The server's name in the MCP handshake (default: the entry assembly's name).</summary>
    public string? ServerName { get; set; }

    /// <summary>The server's human title in the MCP handshake.</summary>
    public string ServerTitle { get; set; } = "Midjourney workflow (MjMcp)";

    /// <summary>
    /// The settings read from the environment, by property name: MJMCP_API_KEY → ApiKey and so on (from
    /// <see cref="MjMcpSettings.All"/>). Mapped explicitly because the environment-variables configuration provider only
    /// maps MJMCP_Name or MJMCP__Name, and the documented names have underscores between words (MJMCP_WAIT_SECONDS).
    /// </summary>
    public static IReadOnlyDictionary<string, string> EnvironmentVariables { get; } = MjMcpSettings.All.ToDictionary(s => s.Property, s => s.Variable, StringComparer.Ordinal);

    /// <summary>
    /// Reads the settings: the <c>MjMcp</c> section of <paramref name="configuration"/> (appsettings.json), overridden by
    /// MJMCP_* environment variables (an empty variable counts as unset). A value that is not a whole number where one is
    /// needed is an <see cref="OptionsValidationException"/> naming the setting and where the value came from; call
    /// <see cref="Validate"/> for the other rules.
    /// </summary>
    public static MjMcpServerOptions Load(IConfiguration? configuration)
    {
        var section = configuration?.GetSection(Section);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var origins = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in section?.AsEnumerable(makePathsRelative: true) ?? [])
        {
            if (value is { Length: > 0 })
            {
                values[key] = value;
                origins[key] = $"{Section}:{key} in the configuration (appsettings.json)";
            }
        }

        foreach (var (key, variable) in EnvironmentVariables)
        {
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value)
            {
                foreach (var child in values.Keys.Where(k => k.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase)).ToList())
                {
                    values.Remove(child);
                }

                values[key] = value;
                origins[key] = variable;
            }
        }

        // PreviewHosts is a comma-separated list in a variable or a string, or a JSON array in appsettings.json.
        var hosts = values.TryGetValue(nameof(PreviewHosts), out var list) && list is not null
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : values.Where(p => p.Key.StartsWith(nameof(PreviewHosts) + ":", StringComparison.OrdinalIgnoreCase)).Select(p => p.Value!.Trim()).ToArray();
        foreach (var key in values.Keys.Where(k => k.StartsWith(nameof(PreviewHosts), StringComparison.OrdinalIgnoreCase)).ToList())
        {
            values.Remove(key);
        }

        // The binder would also fail on these, but without saying where the value came from.
        foreach (var key in MjMcpSettings.All.Where(s => s.Kind is MjMcpSettingKind.Number).Select(s => s.Property))
        {
            if (values.TryGetValue(key, out var text) && !int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
            {
                throw new OptionsValidationException(key, typeof(MjMcpServerOptions), [$"{key} '{text}' (from {origins[key]}) is not a whole number: set it to one, or unset it for the default."]);
            }
        }

        if (values.TryGetValue(nameof(BaseUrl), out var url) && !(Uri.TryCreate(url, UriKind.Absolute, out var parsed) && parsed.Scheme is "http" or "https"))
        {
            throw new OptionsValidationException(nameof(BaseUrl), typeof(MjMcpServerOptions), [$"BaseUrl '{url}' (from {origins[nameof(BaseUrl)]}) is not an absolute http(s) URL: set it like https://api.apiframe.pro, or unset it for the spec's."]);
        }

        if (values.TryGetValue(nameof(OtlpEndpoint), out var otlp) && OtlpEndpointProblem(otlp) is { } otlpProblem)
        {
            // The value itself is not echoed: it may hold credentials.
            throw new OptionsValidationException(nameof(OtlpEndpoint), typeof(MjMcpServerOptions), [$"OtlpEndpoint (from {origins[nameof(OtlpEndpoint)]}) {otlpProblem}"]);
        }

        if (values.TryGetValue(nameof(WebhookUrl), out var hook) && !(Uri.TryCreate(hook, UriKind.Absolute, out var hookUri) && hookUri.Scheme is "http" or "https"))
        {
            throw new OptionsValidationException(nameof(WebhookUrl), typeof(MjMcpServerOptions), [$"WebhookUrl '{hook}' (from {origins[nameof(WebhookUrl)]}) is not an absolute http(s) URL: set it to the URL the provider should POST to (e.g. https://mj.example.com/mjmcp/webhook), or unset it for the local receiver's."]);
        }

        var options = new MjMcpServerOptions();

        // The configuration binder's source generator (EnableConfigurationBindingGenerator) makes this call reflection-free (AOT).
        new ConfigurationBuilder().AddInMemoryCollection(values).Build().Bind(options);
        foreach (var host in hosts)
        {
            options.PreviewHosts.Add(host);
        }

        return options;
    }

    /// <summary>What is wrong with an OTLP endpoint, or null: it must be an absolute http(s) URL without credentials.</summary>
    public static string? OtlpEndpointProblem(string? endpoint) =>
        !(Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            ? "is not an absolute http(s) URL: set it like http://localhost:4317 (OTLP/gRPC) or http://localhost:4318 (with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf), or unset it to export nothing."
            : uri.UserInfo.Length > 0 || uri.Query.Length > 0
                ? "carries credentials or a query: give the collector's bare URL and put any credentials in OTEL_EXPORTER_OTLP_HEADERS (they are never shown or logged)."
                : null;

    /// <summary>Checks every rule (<see cref="MjMcpServerOptionsValidator"/>); a broken one is an <see cref="OptionsValidationException"/> whose message names the setting and the fix.</summary>
    public void Validate()
    {
        var result = new MjMcpServerOptionsValidator().Validate(null, this);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(MjMcpServerOptions), result.Failures);
        }
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
/// The rules of <see cref="MjMcpServerOptions"/>: its data annotations (checked by code the options source generator writes:
/// no reflection, AOT-safe) and its number ranges. Register it as an <see cref="IValidateOptions{TOptions}"/> or call
/// <see cref="MjMcpServerOptions.Validate"/>.
/// </summary>
public sealed class MjMcpServerOptionsValidator : IValidateOptions<MjMcpServerOptions>
{
    /// <inheritdoc/>
    public ValidateOptionsResult Validate(string? name, MjMcpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new ValidateOptionsResultBuilder();
        result.AddResult(new MjMcpServerOptionsAnnotations().Validate(name, options));

        // By hand, not [Range]: the generated range check drops the attribute's ErrorMessage, and these messages must name the fix.
        void Range(string setting, int? value, int min, int max, string variable, string? flag, string meaning)
        {
            if (value is { } v && (v < min || v > max))
            {
                var where = flag is null ? $"{variable} or {MjMcpServerOptions.Section}:{setting}" : $"{variable}, {flag} or {MjMcpServerOptions.Section}:{setting}";
                result.AddError($"{v.ToString(CultureInfo.InvariantCulture)} is out of range: {meaning}. Fix {where}.", setting);
            }
        }

        Range(nameof(options.WaitSeconds), options.WaitSeconds, 0, MjMcpServerOptions.MaxWaitSeconds, "MJMCP_WAIT_SECONDS", "--wait-seconds", "give 0 to 50 seconds (default 40)");
        Range(nameof(options.WebhookPort), options.WebhookPort, 0, 65535, "MJMCP_WEBHOOK_PORT", "--webhook-port", "give a port number from 0 to 65535 (0: any free port)");
        Range(nameof(options.MaxConcurrentSubmits), options.MaxConcurrentSubmits, 0, int.MaxValue, "MJMCP_MAX_CONCURRENT_SUBMITS", "--max-concurrent-submits", "give 0 (no cap) or more");
        Range(nameof(options.BudgetCredits), options.BudgetCredits, 0, int.MaxValue, "MJMCP_BUDGET_CREDITS", "--budget-credits", "give a number of credits (0 or more), or leave it unset for no limit");
        Range(nameof(options.DailyBudgetCredits), options.DailyBudgetCredits, 0, int.MaxValue, "MJMCP_DAILY_BUDGET_CREDITS", "--daily-budget-credits", "give a number of credits (0 or more), or leave it unset for no limit");
        if (options.OtlpEndpoint is { } otlp && MjMcpServerOptions.OtlpEndpointProblem(otlp.OriginalString) is { } otlpProblem)
        {
            result.AddError($"OtlpEndpoint {otlpProblem} Fix MJMCP_OTLP_ENDPOINT, --otlp-endpoint or {MjMcpServerOptions.Section}:{nameof(options.OtlpEndpoint)}.", nameof(options.OtlpEndpoint));
        }

        Range(nameof(options.MaxConcurrentJobs), options.MaxConcurrentJobs, 0, 10_000, "MJMCP_MAX_CONCURRENT_JOBS", "--max-concurrent-jobs", "give the provider account's job limit (1 or more), or 0 / unset for no cap");
        if (options.Journal is { Length: > 0 } journal && !PostgresTaskJournal.IsConnectionString(journal))
        {
            result.AddError("is not a PostgreSQL connection string: give one like Host=db.example.com;Database=mjmcp;Username=mjmcp (the password in PGPASSWORD or ~/.pgpass, or Password=…), or leave it unset for the SQLite journal in the data directory. Fix MJMCP_JOURNAL, --journal or MjMcp:Journal.", nameof(options.Journal));
        }
        return result.Build();
    }
}

/// <summary>The data-annotation checks of <see cref="MjMcpServerOptions"/>, written by the options source generator.</summary>
[OptionsValidator]
internal sealed partial class MjMcpServerOptionsAnnotations : IValidateOptions<MjMcpServerOptions>
{
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
        options.Validate(); // a broken setting fails here, before anything starts
        Directory.CreateDirectory(options.DataDir);

        // stdout carries JSON-RPC only: every log line goes to stderr.
        builder.Logging.ClearProviders();
        if (StderrLoggerProvider.FormatterConfigured(builder.Configuration))
        {
            // Console formatter settings (Logging:Console:FormatterName, FormatterOptions…): the standard console provider
            // reads them; only the cheaper start-up of the default one is given up.
            builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        }
        else
        {
            builder.Services.AddSingleton<ILoggerProvider>(_ => new StderrLoggerProvider());
        }

        // ...and the server's own lines (provider errors, retries, warnings) also reach the MCP client as
        // notifications/message, at the level it set with logging/setLevel (Trace here: the client's level decides).
        var clientLog = new ClientLogForwarder();
        builder.Logging.AddProvider(clientLog);
        builder.Logging.AddFilter<ClientLogForwarder>(null, LogLevel.Trace);
        builder.Services.AddSingleton(clientLog); // WithMjMcpHttpTransport makes it per request

        // Traces, metrics and logs over OTLP, only when an endpoint is configured (see Telemetry.cs).
        ServerTelemetry.AddExport(builder, options, options.ServerName ?? Assembly.GetEntryAssembly()?.GetName().Name ?? "mjmcp");

        var services = builder.Services;
        services.AddSingleton(spec);
        services.AddSingleton(options);
        services.AddSingleton<ServerBackend>();

        // Registered before the MCP transport's hosted service: it begins starting the backend (embedded sandbox, webhook
        // receiver) in the background, so initialize and tools/list answer at once; calls that need it await it (BackendGate).
        services.AddHostedService(sp => sp.GetRequiredService<ServerBackend>());
        services.AddSingleton(new ServerSettings { WaitSeconds = options.WaitSeconds, MaxWaitSeconds = MjMcpServerOptions.MaxWaitSeconds, MaxConcurrentSubmits = options.MaxConcurrentSubmits ?? (options.ApiKey is null ? 0 : 12), InlinePreviews = !string.Equals(options.Previews, "link", StringComparison.OrdinalIgnoreCase) });

        // SIGTERM/SIGINT (the console lifetime) stop the server; in-flight calls get at most 5 s to finish or cancel.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(5));
        services.AddMjClient(static (http, clientOptions, sp) => JobDurationFile.Attach(new MjClient(http, clientOptions, sp.GetRequiredService<McpSpec>().Rules, sp.GetService<ILogger<MjClient>>(), sp.GetService<TimeProvider>()), sp.GetRequiredService<MjMcpServerOptions>().DataDir, sp.GetService<ILogger<MjClient>>()));
        services.AddOptions<MidjourneyOptions>().Configure<ServerBackend>((o, backend) => backend.Configure(o));
        services.AddSingleton<ITaskJournal>(JournalRegistration.Open(options));
        JournalRegistration.AddJobSlots(services, options);
        services.AddHttpClient("previews");
        services.AddSingleton(sp => new PreviewService(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient("previews"),
            sp.GetRequiredService<ILogger<PreviewService>>(),
            PreviewService.ProviderHosts(sp.GetRequiredService<IOptions<MidjourneyOptions>>().Value.BaseUrl ?? new Uri(spec.Rules.Provider.BaseUrl), options.PreviewHosts),
            Path.Combine(options.DataDir, "previews"),
            (url, numbered) => sp.GetRequiredService<ServerBackend>().Sandbox?.TryReadPreview(url, numbered)));
        services.AddSingleton(sp => new CreditBudget(sp.GetRequiredService<ITaskJournal>(), options.BudgetCredits, options.DailyBudgetCredits));
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
            .WithMessageFilters(filters => filters.AddIncomingFilter(ProtocolGuard.Filter(clientLog.Attach)))
            .WithRequestFilters(filters => filters.AddCallToolFilter(ServerTelemetry.ToolCallFilter))
            .WithRequestFilters(BackendGate.Add)
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
    private readonly Lock _startLock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Func<CancellationToken, Task>? _startHook;
    private SandboxServer? _sandbox;
    private WebhookReceiver? _webhook;
    private ReplicaListener? _replica;
    private Task? _start;
    private Uri? _configuredBaseUrl;

    public ServerBackend(MjMcpServerOptions options, McpSpec spec, ServerSettings settings, IServiceProvider services, ILoggerFactory loggers)
    {
        _startHook = services.GetService<BackendStartHook>()?.BeforeStart;
        _options = options;
        _spec = spec;
        _settings = settings;
        _services = services;
        _logger = loggers.CreateLogger("MjMcp.Server");
    }

    /// <summary>The embedded sandbox, when there is one (it hands previews to <see cref="PreviewService"/> in process).</summary>
    internal SandboxServer? Sandbox => _sandbox;

    /// <summary>Points the provider client at the sandbox or the configured provider.</summary>
    public void Configure(MidjourneyOptions o)
    {
        if (_options.ApiKey is null)
        {
            // Read once, when the MjClient is made. The calls that make it wait for the backend first (BackendGate), so
            // this waits only if something else reads the options early, and then fails the way such a call would.
            var sandbox = _sandbox ?? WaitForSandbox();
            _configuredBaseUrl = sandbox.BaseUrl;
            o.BaseUrl = sandbox.BaseUrl;
            o.ApiKey = SandboxKey;

            UseEmbeddedSandboxPolling(o);
        }
        else
        {
            o.BaseUrl = _options.BaseUrl;
            o.ApiKey = _options.ApiKey;
        }
    }

    /// <summary>
    /// Poll settings for the embedded sandbox, whose webhooks always reach the server's receiver: waits go quiet while
    /// updates flow and poll only after a 5 s silence; without webhooks, polls are planned from the progress rate, and
    /// loopback is cheap, so they may come 100 ms apart near the end.
    /// </summary>
    internal static void UseEmbeddedSandboxPolling(MidjourneyOptions o)
    {
        o.PollInitialDelay = TimeSpan.FromMilliseconds(500);
        o.PollMinInterval = TimeSpan.FromMilliseconds(100);
        o.PollMaxInterval = TimeSpan.FromSeconds(5);
    }

    /// <summary>The most a call waits for the backend to come up before it is answered with an error.</summary>
    internal static TimeSpan StartBound { get; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether the backend is up (the embedded sandbox and the webhook receiver are listening).</summary>
    internal bool IsReady => Volatile.Read(ref _start) is { IsCompletedSuccessfully: true };

    /// <summary>At the latest this long after start-up the backend starts, even if no client lists the tools.</summary>
    internal static TimeSpan StartAtTheLatest { get; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Returns at once; the backend, the embedded sandbox (Kestrel, images) and the webhook receiver, starts in the
    /// background once the handshake is done (<see cref="StartSoon"/>: the first tools/list has been answered), at the
    /// latest after <see cref="StartAtTheLatest"/>, or at once when a call needs it (<see cref="WhenReadyAsync"/>). Started
    /// beside the handshake it would compete for the CPU with initialize and tools/list (2-core machines, NativeAOT's
    /// cold start): those answer first.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _settings.Backend = _options.ApiKey is null ? "embedded sandbox (starting)" : $"provider {_options.BaseUrl?.ToString() ?? _spec.Rules.Provider.BaseUrl}";
        _ = StartAfterAsync(StartAtTheLatest);
        return Task.CompletedTask;
    }

    /// <summary>The client has the tool list: the backend starts in a moment (after the answer is on its way).</summary>
    internal void StartSoon() => _ = StartAfterAsync(TimeSpan.FromMilliseconds(50));

    private async Task StartAfterAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        _ = Begin(retry: false);
    }

    /// <summary>
    /// Waits (at most <see cref="StartBound"/>) until the backend is up: null then, else what went wrong and the fix. A start
    /// that failed is tried again here, so a call made after the cause is fixed (a port freed, a folder made writable) works.
    /// </summary>
    public async ValueTask<string?> WhenReadyAsync(CancellationToken cancellationToken)
    {
        var start = Volatile.Read(ref _start) is { IsFaulted: false, IsCanceled: false } running ? running : Begin();
        try
        {
            await start.WaitAsync(StartBound, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (TimeoutException)
        {
            return $"The {What()} is still starting after {StartBound.TotalSeconds:0} s; nothing was sent. Call again in a moment; if this repeats, see mjmcp's stderr.";
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return $"The {What()} could not start: {StartProblem(ex)}; nothing was sent. {Fix()}";
        }
    }

    private string What() => _options.ApiKey is null ? "embedded sandbox" : "webhook receiver";

    private string Fix() => _options.ApiKey is null
        ? $"Fix: make the data directory {_options.DataDir} writable (or choose another with MJMCP_DATA_DIR or --data-dir), or set MJMCP_API_KEY to use the provider; then call again (the start is retried)."
        : $"Fix: free port {_options.WebhookPort} or choose another with MJMCP_WEBHOOK_PORT or --webhook-port (0: any free port), or unset it to run without webhooks; then call again (the start is retried).";

    private static string StartProblem(Exception ex) => ex is AggregateException { InnerExceptions.Count: 1 } one ? StartProblem(one.InnerException!) : ex.Message;

    /// <summary>Starts (or, after a failure and with <paramref name="retry"/>, restarts) the backend; concurrent callers share one attempt.</summary>
    private Task Begin(bool retry = true)
    {
        lock (_startLock)
        {
            if (_start is { IsFaulted: false, IsCanceled: false } running)
            {
                return running;
            }

            if (!retry && _start is { } failed)
            {
                return failed;
            }

            var start = Task.Run(() => StartBackendAsync(_stopping.Token));
            Volatile.Write(ref _start, start);
            return start;
        }
    }

    /// <summary>Blocks until the sandbox is up (see <see cref="Configure"/>); throws what its start threw.</summary>
    private SandboxServer WaitForSandbox()
    {
        var start = Volatile.Read(ref _start) ?? Begin();
        if (!start.Wait(StartBound))
        {
            throw new TimeoutException($"The embedded sandbox did not start within {StartBound.TotalSeconds:0} s.");
        }

        return _sandbox ?? throw new InvalidOperationException("The embedded sandbox is not running.");
    }

    private async Task StartBackendAsync(CancellationToken cancellationToken)
    {
        // The journal (SQLite) and the sandbox's storage do short synchronous I/O on pool threads; with many tool
        // calls at once on a 2-core machine the pool's slow growth would let submits queue for tens of seconds. Raised
        // here, before any call can go ahead (they wait for the backend), not at start-up: during the handshake a high
        // minimum makes the pool start threads it does not need, and each start waits for the new thread to run.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), io);
        try
        {
            if (_startHook is not null)
            {
                await _startHook(cancellationToken).ConfigureAwait(false);
            }

            await StartBackendCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.StartFailed(_logger, What(), StartProblem(ex));
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task StartBackendCoreAsync(CancellationToken cancellationToken)
    {
        if (_options.ApiKey is null)
        {
            _sandbox = await StartSandboxAsync(cancellationToken).ConfigureAwait(false);
        }

        _settings.Backend = _sandbox is { } s ? $"embedded sandbox at {s.BaseUrl}" : $"provider {_options.BaseUrl?.ToString() ?? _spec.Rules.Provider.BaseUrl}";

        // Webhooks wake waiting tools at once and keep the journal current; polling stays the fallback.
        if (_sandbox is not null || _options.WebhookPort is not null)
        {
            // The secret (and, unless configured, the port) persist in the data directory: a callback for a submit
            // made before a crash or restart still reaches the receiver, passes its secret check and recovers the intent.
            var secret = JournalRegistration.SharedWebhookSecret(_services.GetRequiredService<ITaskJournal>()) ?? WebhookSecret();
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

            var journal = _services.GetRequiredService<ITaskJournal>();
            _webhook.Updated += update => journal.ApplyWebhook(update.Update, update.IntentId, _spec.Rules);
        }

        // Replicas: submits carry the public webhook URL (MJMCP_WEBHOOK_URL); a PostgreSQL journal's NOTIFYs wake waiters here.
        var sharedJournal = _services.GetRequiredService<ITaskJournal>();
        _replica = JournalRegistration.StartReplica(sharedJournal, _services.GetRequiredService<MjClient>(), _spec.Rules, _options.WebhookUrl, _options.WebhookUrl is null ? null : JournalRegistration.SharedWebhookSecret(sharedJournal) ?? WebhookSecret(), _logger);

        Log.Started(_logger, _settings.Backend, _options.DataDir);
        if (!Console.IsInputRedirected && _services.GetService<StdioTransportMarker>() is not null)
        {
            await Console.Error.WriteLineAsync($"mjmcp: MCP server on stdio, waiting for an MCP client (backend: {_settings.Backend}).\nmjmcp: Ctrl+C stops.").ConfigureAwait(false);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _start) is { } start)
        {
            // A start under way finishes (or gives up) before what it started is disposed.
            await Task.WhenAny(start, Task.Delay(Timeout.Infinite, cancellationToken)).ConfigureAwait(false);
        }

        await DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The embedded sandbox, on the port it had last time in this data directory (saved in sandbox.port), so image URLs in
    /// the journal and in agents' hands stay valid across restarts (the sandbox serves only its own port's URLs). If that
    /// port is taken now, any free one; resources then re-read such tasks for fresh URLs.
    /// </summary>
    private async Task<SandboxServer> StartSandboxAsync(CancellationToken cancellationToken)
    {
        var portFile = Path.Combine(_options.DataDir, "sandbox.port");
        var saved = int.TryParse(ReadOrNull(portFile), NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535 ? p : 0;
        if (_configuredBaseUrl is { } configured)
        {
            // A restart after a failed start: the client already points at this port, so only this port will do.
            return await SandboxServer.StartAsync(Options(configured.Port), cancellationToken).ConfigureAwait(false);
        }

        SandboxOptions Options(int port) => new() { Port = port, DataDirectory = Path.Combine(_options.DataDir, "sandbox"), Timing = _options.Timing(), ApiKey = SandboxKey, Spec = _spec.Rules };
        SandboxServer sandbox;
        try
        {
            // Probed first: a sandbox that fails to bind is not cleanly disposable.
            sandbox = await SandboxServer.StartAsync(Options(saved != 0 && PortFree(saved) ? saved : 0), cancellationToken).ConfigureAwait(false);
        }
        catch (IOException) when (saved != 0)
        {
            // Taken between the probe and the bind: any free port.
            sandbox = await SandboxServer.StartAsync(Options(0), cancellationToken).ConfigureAwait(false);
        }

        if (sandbox.BaseUrl.Port != saved)
        {
            await File.WriteAllTextAsync(portFile, sandbox.BaseUrl.Port.ToString(CultureInfo.InvariantCulture), cancellationToken).ConfigureAwait(false);
        }

        return sandbox;

        static bool PortFree(int port)
        {
            try
            {
                using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                if (!OperatingSystem.IsWindows())
                {
                    // Like Kestrel: the last run's connections in TIME_WAIT do not make the port "taken"; a listener does.
                    probe.SetSocketOption(System.Net.Sockets.SocketOptionLevel.Socket, System.Net.Sockets.SocketOptionName.ReuseAddress, true);
                }

                probe.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, port));
                return true;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return false;
            }
        }
    }

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
        if (Interlocked.Exchange(ref _replica, null) is { } replica)
        {
            await replica.DisposeAsync().ConfigureAwait(false);
        }

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

        [LoggerMessage(2, LogLevel.Error, "The {What} could not start: {Problem} (tool calls get this error with the fix; the next call tries again)")]
        public static partial void StartFailed(ILogger logger, string what, string problem);
    }
}

/// <summary>
/// Makes tool calls and resource reads wait for the backend (<see cref="ServerBackend.WhenReadyAsync"/>) before anything
/// resolves the provider client, whose options depend on the embedded sandbox's port; initialize, tools/list, prompts and
/// the rest answer at once, and the first tools/list starts the backend. A backend that cannot start gives a tool error naming the fix, and the server keeps answering.
/// </summary>
internal static class BackendGate
{
    public static void Add(IMcpRequestFilterBuilder filters)
    {
        filters.AddListToolsFilter(next => async (request, cancellationToken) =>
        {
            var tools = await next(request, cancellationToken).ConfigureAwait(false);
            Backend(request.Services).StartSoon();
            return tools;
        });
        filters.AddCallToolFilter(next => async (request, cancellationToken) =>
            await Backend(request.Services).WhenReadyAsync(cancellationToken).ConfigureAwait(false) is { } problem
                ? ToolRuntime.Refuse(RefusalCodes.ProviderUnreachable, problem, null)
                : await next(request, cancellationToken).ConfigureAwait(false));
        filters.AddReadResourceFilter(next => async (request, cancellationToken) =>
            await Backend(request.Services).WhenReadyAsync(cancellationToken).ConfigureAwait(false) is { } problem
                ? throw new McpException(problem)
                : await next(request, cancellationToken).ConfigureAwait(false));
    }

    private static ServerBackend Backend(IServiceProvider? services) =>
        (services ?? throw new InvalidOperationException("The MCP request carries no service provider.")).GetRequiredService<ServerBackend>();
}

/// <summary>Test seam: awaited before the backend starts, so a test can hold the start back and watch what answers meanwhile.</summary>
internal sealed class BackendStartHook(Func<CancellationToken, Task> beforeStart)
{
    public Func<CancellationToken, Task> BeforeStart { get; } = beforeStart;
}
