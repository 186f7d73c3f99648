using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using MjMcp.Sandbox;

namespace MjMcp.Server;

/// <summary>Where the server's settings come from: flags, then MJMCP_* environment variables, then appsettings.json beside the binary.</summary>
public sealed class AppSettings
{
    /// <summary>The provider API key; none means the embedded sandbox.</summary>
    public string? ApiKey { get; init; }

    /// <summary>The provider base URL.</summary>
    public Uri? BaseUrl { get; init; }

    /// <summary>The data directory (journal, sandbox tasks and images).</summary>
    public required string DataDir { get; init; }

    /// <summary>How long a tool waits by default.</summary>
    public int WaitSeconds { get; init; } = 40;

    /// <summary>
    /// Port of the local webhook receiver (loopback). With the embedded sandbox it always runs (port 0 = any);
    /// with a real provider only when set, and the provider must be able to reach it (e.g. through a tunnel).
    /// </summary>
    public int? WebhookPort { get; init; }

    /// <summary>The path of the webhook receiver.</summary>
    public string WebhookPath { get; init; } = "/mjmcp/webhook";

    /// <summary>Sandbox timing: instant, brisk or realistic.</summary>
    public string SandboxTiming { get; init; } = "brisk";

    /// <summary>Reads the settings.</summary>
    public static AppSettings Load(string? dataDirFlag, string? baseUrlFlag, int? waitSecondsFlag, string? timingFlag)
    {
        var file = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .Build()
            .GetSection("MjMcp");
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
        var baseUrl = baseUrlFlag ?? Env("MJMCP_BASE_URL") ?? file["BaseUrl"];
        var wait = waitSecondsFlag ?? (int.TryParse(Env("MJMCP_WAIT_SECONDS") ?? file["WaitSeconds"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var w) ? w : 40);
        return new AppSettings
        {
            ApiKey = Env("MJMCP_API_KEY") ?? file["ApiKey"],
            BaseUrl = string.IsNullOrWhiteSpace(baseUrl) ? null : new Uri(baseUrl, UriKind.Absolute),
            DataDir = dataDirFlag ?? Env("MJMCP_DATA_DIR") ?? file["DataDir"] ?? DefaultDataDir(),
            WaitSeconds = Math.Clamp(wait, 0, 50),
            SandboxTiming = timingFlag ?? Env("MJMCP_SANDBOX_TIMING") ?? file["SandboxTiming"] ?? "brisk",
            WebhookPath = Env("MJMCP_WEBHOOK_PATH") ?? file["WebhookPath"] ?? "/mjmcp/webhook",
            WebhookPort = int.TryParse(Env("MJMCP_WEBHOOK_PORT") ?? file["WebhookPort"], NumberStyles.Integer, CultureInfo.InvariantCulture, out var port) ? port : null,
        };
    }

    /// <summary>The per-user data directory (~/.local/share/mjmcp on Linux).</summary>
    public static string DefaultDataDir()
    {
        var root = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create);
        return Path.Combine(string.IsNullOrEmpty(root) ? Path.GetTempPath() : root, "mjmcp");
    }

    /// <summary>The sandbox timing by name.</summary>
    public SandboxTiming Timing() => SandboxTiming.ToLowerInvariant() switch
    {
        "instant" => MjMcp.Sandbox.SandboxTiming.Instant,
        "realistic" => MjMcp.Sandbox.SandboxTiming.Realistic,
        _ => new MjMcp.Sandbox.SandboxTiming(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3)),
    };
}

/// <summary>Builds and runs the MCP stdio server.</summary>
public static partial class ServerApp
{
    /// <summary>The server's instructions to the client.</summary>
    public const string Instructions = "Midjourney workflow tools. Start with imagine (a 2x2 grid), pick an image with upscale_1x (index 1-4), then refine the upscaled image (pan, outpaint, inpaint, variations strong/subtle, upscale_alt, upscale_highres). Each result lists next_actions; follow them. Long jobs return a task_id: call wait_task. The prompt 'midjourney_workflow' explains more.";

    /// <summary>Runs the server until stdin closes or the token is cancelled.</summary>
    public static async Task<int> RunAsync(AppSettings settings, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Directory.CreateDirectory(settings.DataDir);
        await using var sandbox = settings.ApiKey is null
            ? await SandboxServer.StartAsync(
                new SandboxOptions { DataDirectory = Path.Combine(settings.DataDir, "sandbox"), Timing = settings.Timing(), ApiKey = "sandbox-local-key" },
                cancellationToken).ConfigureAwait(false)
            : null;

        using var host = Build(settings, sandbox);
        var logger = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MjMcp.Server");

        // Webhooks wake waiting tools at once and keep the journal current; polling stays the fallback.
        await using var webhook = sandbox is not null || settings.WebhookPort is not null
            ? WebhookReceiver.Start(host.Services.GetRequiredService<MidjourneyClient>(), settings.WebhookPort ?? 0, settings.WebhookPath, logger: logger)
            : null;
        if (webhook is not null)
        {
            var journal = host.Services.GetRequiredService<TaskJournal>();
            webhook.Updated += update => journal.ApplyFetch(update, MidjourneySpec.Rules);
        }

        var backend = host.Services.GetRequiredService<ServerSettings>().Backend;
        Log.Started(logger, backend, settings.DataDir);
        if (!Console.IsInputRedirected)
        {
            await Console.Error.WriteLineAsync($"mjmcp: MCP server on stdio, waiting for an MCP client (backend: {backend}).\nmjmcp: to watch the whole workflow instead, run: mjmcp demo \"a lighthouse at dusk\"\nmjmcp: Ctrl+C stops.").ConfigureAwait(false);
        }

        await host.RunAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }

    /// <summary>Builds the host on a backend: the given sandbox, or the provider from the settings.</summary>
    public static IHost Build(AppSettings settings, SandboxServer? sandbox)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true);

        // stdout carries JSON-RPC only: every log line goes to stderr.
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);

        var backend = sandbox is null ? $"provider {settings.BaseUrl?.ToString() ?? MidjourneySpec.Rules.Provider.BaseUrl}" : $"embedded sandbox at {sandbox.BaseUrl}";
        builder.Services.AddSingleton(new ServerSettings { WaitSeconds = settings.WaitSeconds, MaxWaitSeconds = 50, Backend = backend });
        builder.Services.AddMidjourneyClient(o =>
        {
            o.BaseUrl = sandbox?.BaseUrl ?? settings.BaseUrl;
            o.ApiKey = sandbox?.Options.ApiKey ?? settings.ApiKey;
            if (sandbox is not null)
            {
                // Loopback is cheap: poll briskly.
                o.PollInitialDelay = TimeSpan.FromMilliseconds(150);
                o.PollMinInterval = TimeSpan.FromMilliseconds(150);
                o.PollMaxInterval = TimeSpan.FromSeconds(2);
            }
        });
        builder.Services.AddSingleton(new TaskJournal(Path.Combine(settings.DataDir, "journal.db")));
        builder.Services.AddHttpClient("previews");
        builder.Services.AddSingleton(sp => new PreviewService(sp.GetRequiredService<IHttpClientFactory>().CreateClient("previews"), sp.GetRequiredService<ILogger<PreviewService>>()));
        builder.Services.AddSingleton<ToolRuntime>();

        builder.Services
            .AddMcpServer(o =>
            {
                o.ServerInfo = new Implementation { Name = "mjmcp", Title = "MjMcp - Midjourney workflow", Version = typeof(ServerApp).Assembly.GetName().Version?.ToString(3) ?? "0.1.0" };
                o.ServerInstructions = Instructions;
            })
            .WithStdioServerTransport()
            .WithTools(ToolCatalog.Tools())
            .WithResources(TaskResource.All())
            .WithPrompts([new WorkflowPrompt()]);
        return builder.Build();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "mjmcp serving MCP on stdio; backend: {Backend}; data: {DataDir}")]
        public static partial void Started(ILogger logger, string backend, string dataDir);
    }
}
