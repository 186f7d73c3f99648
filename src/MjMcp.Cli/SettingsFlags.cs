using System.CommandLine;
using MjMcp.Sandbox;
using MjMcp.Server;

namespace MjMcp.Cli;

/// <summary>
/// The command-line flags for <see cref="MjMcpServerOptions"/>. Each is checked while parsing, so a bad value is a one-line
/// error naming the flag; the API key is never a flag value (the process list and shell history would show it).
/// </summary>
internal sealed class SettingsFlags
{
    private static readonly string[] Timings = ["instant", "brisk", "realistic"];

    public Option<string?> DataDir { get; } = CommandLineErrors.Text("--data-dir", "Journal and sandbox data directory (default: MJMCP_DATA_DIR, else the per-user data folder).", "DIR", "~/mjmcp-data");

    public Option<string?> BaseUrl { get; } = new("--base-url")
    {
        Description = "Provider base URL (default: MJMCP_BASE_URL, else the spec's).",
        HelpName = "URL",
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value;
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            {
                return text;
            }

            result.AddError($"--base-url needs an absolute http(s) URL such as https://api.apiframe.pro; got '{text}'");
            return null;
        },
    };

    public Option<string?> ApiKeyEnv { get; } = new("--api-key-env")
    {
        Description = "The name of an environment variable that holds the provider API key (default: MJMCP_API_KEY). The key itself is never a flag.",
        HelpName = "NAME",
        CustomParser = result =>
        {
            var name = result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value;
            if (name.Length > 0 && Environment.GetEnvironmentVariable(name) is { Length: > 0 })
            {
                return name;
            }

            result.AddError($"--api-key-env {name}: the variable '{name}' is not set or empty; export it with the key first, or drop --api-key-env to use MJMCP_API_KEY");
            return null;
        },
    };

    /// <summary>Hidden: refuses a key on the command line and says what to do instead.</summary>
    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Hidden = true,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            result.AddError("--api-key: no API key on the command line (the process list and shell history would show it): set MJMCP_API_KEY, or name the variable that holds it with --api-key-env NAME");
            return null;
        },
    };

    public Option<int?> WaitSeconds { get; } = CommandLineErrors.Number("--wait-seconds", "How long a tool waits for its task before returning the task_id (default 40).", 0, MjMcpServerOptions.MaxWaitSeconds, "a number of seconds", 40);

    public Option<string?> SandboxTiming { get; } = new("--sandbox-timing")
    {
        Description = "Embedded sandbox speed: instant, brisk (default) or realistic.",
        HelpName = "instant|brisk|realistic",
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value;
            if (Timings.Contains(text, StringComparer.Ordinal))
            {
                return text;
            }

            result.AddError($"--sandbox-timing must be instant, brisk or realistic; got '{text}'");
            return null;
        },
    };

    public Option<int?> WebhookPort { get; } = CommandLineErrors.Number("--webhook-port", "Port of the local webhook receiver (0: any free port; with a real provider it runs only when set).", 0, 65535, "a port number", 8787);

    public Option<string?> WebhookPath { get; } = CommandLineErrors.Text("--webhook-path", "Path of the webhook receiver (default /mjmcp/webhook).", "PATH", "/mjmcp/webhook");

    public Option<int?> MaxConcurrentSubmits { get; } = CommandLineErrors.Number("--max-concurrent-submits", "At most this many tool calls submit at once (0: no cap; default 12 with a real provider, no cap on the sandbox).", 0, int.MaxValue, "a whole number", 4);

    public Option<string?> PreviewHosts { get; } = CommandLineErrors.Text("--preview-hosts", "More hosts previews may be fetched from, comma-separated (besides the provider's).", "HOSTS", "cdn.example.com");

    public Option<int?> BudgetCredits { get; } = CommandLineErrors.Number("--budget-credits", "Spending guard: at most this many credits per server process (unset: no limit).", 0, int.MaxValue, "a number of credits", 100);

    public Option<int?> DailyBudgetCredits { get; } = CommandLineErrors.Number("--daily-budget-credits", "Spending guard: at most this many credits per UTC day, counted in the journal (unset: no limit).", 0, int.MaxValue, "a number of credits", 500);

    public Option<string?> OtlpEndpoint { get; } = new("--otlp-endpoint")
    {
        Description = "Export traces, metrics and logs over OTLP to this collector (default: MJMCP_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT, else none); gRPC unless OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.",
        HelpName = "URL",
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value;
            if (MjMcpServerOptions.OtlpEndpointProblem(text) is { } problem)
            {
                result.AddError("--otlp-endpoint " + problem);
                return null;
            }

            return text;
        },
    };

    public void AddTo(Command command)
    {
        foreach (Option option in new Option[] { DataDir, BaseUrl, ApiKeyEnv, ApiKey, WaitSeconds, SandboxTiming, WebhookPort, WebhookPath, MaxConcurrentSubmits, PreviewHosts, BudgetCredits, DailyBudgetCredits, OtlpEndpoint })
        {
            command.Options.Add(option);
        }
    }

    /// <summary>The flags given, to apply over the environment and appsettings.json.</summary>
    public Action<MjMcpServerOptions> Read(ParseResult parse)
    {
        var dataDir = parse.GetValue(DataDir);
        var baseUrl = parse.GetValue(BaseUrl);
        var apiKeyEnv = parse.GetValue(ApiKeyEnv);
        var waitSeconds = parse.GetValue(WaitSeconds);
        var timing = parse.GetValue(SandboxTiming);
        var webhookPort = parse.GetValue(WebhookPort);
        var webhookPath = parse.GetValue(WebhookPath);
        var maxSubmits = parse.GetValue(MaxConcurrentSubmits);
        var previewHosts = parse.GetValue(PreviewHosts);
        var budget = parse.GetValue(BudgetCredits);
        var dailyBudget = parse.GetValue(DailyBudgetCredits);
        var otlpEndpoint = parse.GetValue(OtlpEndpoint);
        return o =>
        {
            o.DataDir = dataDir ?? o.DataDir;
            o.BaseUrl = baseUrl is null ? o.BaseUrl : new Uri(baseUrl);
            o.ApiKey = apiKeyEnv is null ? o.ApiKey : Environment.GetEnvironmentVariable(apiKeyEnv);
            o.WaitSeconds = waitSeconds ?? o.WaitSeconds;
            o.SandboxTiming = timing ?? o.SandboxTiming;
            o.WebhookPort = webhookPort ?? o.WebhookPort;
            o.WebhookPath = webhookPath ?? o.WebhookPath;
            o.MaxConcurrentSubmits = maxSubmits ?? o.MaxConcurrentSubmits;
            o.BudgetCredits = budget ?? o.BudgetCredits;
            o.DailyBudgetCredits = dailyBudget ?? o.DailyBudgetCredits;
            o.OtlpEndpoint = otlpEndpoint is null ? o.OtlpEndpoint : new Uri(otlpEndpoint);
            if (previewHosts is not null)
            {
                o.PreviewHosts.Clear();
                foreach (var host in previewHosts.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                {
                    o.PreviewHosts.Add(host);
                }
            }
        };
    }
}
