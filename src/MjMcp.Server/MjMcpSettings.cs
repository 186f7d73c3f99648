using System.Globalization;

namespace MjMcp.Server;

/// <summary>How a setting's text is read and checked.</summary>
public enum MjMcpSettingKind
{
    /// <summary>Any non-empty text.</summary>
    Text,

    /// <summary>A whole number from <see cref="MjMcpSetting.Min"/> to <see cref="MjMcpSetting.Max"/>.</summary>
    Number,

    /// <summary>An absolute http(s) URL.</summary>
    Url,

    /// <summary>One of <see cref="MjMcpSetting.Choices"/>.</summary>
    Choice,

    /// <summary>A secret: set from its variable; on the command line only the <em>name</em> of a variable that holds it.</summary>
    Secret,
}

/// <summary>
/// One setting of <see cref="MjMcpServerOptions"/>: its property (the <c>MjMcp</c> section of appsettings.json), its
/// environment variable, its command-line flag, and how its text is checked, applied and shown. The one table
/// <see cref="MjMcpSettings.All"/> drives the environment mapping, <c>mjmcp</c>'s flags and <c>mjmcp settings</c>; a test
/// keeps the README's settings table in step with it.
/// </summary>
public sealed class MjMcpSetting
{
    internal MjMcpSetting(string property, string variable, string flag, string helpName, MjMcpSettingKind kind, string description, string example, Action<MjMcpServerOptions, string> set, Func<MjMcpServerOptions, string> show)
    {
        Property = property;
        Variable = variable;
        Flag = flag;
        HelpName = helpName;
        Kind = kind;
        Description = description;
        Example = example;
        Set = set;
        Show = show;
    }

    /// <summary>The property of <see cref="MjMcpServerOptions"/> and its key in the <c>MjMcp</c> configuration section.</summary>
    public string Property { get; }

    /// <summary>The environment variable (MJMCP_…).</summary>
    public string Variable { get; }

    /// <summary>The command-line flag (for <see cref="MjMcpSettingKind.Secret"/>: the flag naming the variable that holds it).</summary>
    public string Flag { get; }

    /// <summary>The flag's value name in help (DIR, URL, N …).</summary>
    public string HelpName { get; }

    public MjMcpSettingKind Kind { get; }

    /// <summary>The flag's help text.</summary>
    public string Description { get; }

    /// <summary>An example value, for messages that show how to set it.</summary>
    public string Example { get; }

    /// <summary>The smallest whole number allowed (<see cref="MjMcpSettingKind.Number"/>).</summary>
    public int Min { get; internal init; }

    /// <summary>The largest whole number allowed (<see cref="MjMcpSettingKind.Number"/>).</summary>
    public int Max { get; internal init; } = int.MaxValue;

    /// <summary>What a number stands for, in messages ("a port number").</summary>
    public string What { get; internal init; } = "a whole number";

    /// <summary>The values allowed (<see cref="MjMcpSettingKind.Choice"/>).</summary>
    public IReadOnlyList<string> Choices { get; internal init; } = [];

    /// <summary>A check beyond the kind's (null: none); returns the problem without echoing the value.</summary>
    internal Func<string, string?>? Check { get; init; }

    /// <summary>Applies a checked value (see <see cref="Problem"/>) to the options.</summary>
    public Action<MjMcpServerOptions, string> Set { get; }

    /// <summary>The value in effect as <c>mjmcp settings</c> shows it (secrets only as set / not set).</summary>
    public Func<MjMcpServerOptions, string> Show { get; }

    /// <summary>
    /// Null when <paramref name="text"/> is a valid value of this setting; otherwise what is wrong and how to fix it,
    /// as a phrase to follow the setting's name ("needs an absolute http(s) URL such as …; got 'x'"). A value that may
    /// hold credentials (a URL with user info) is not echoed.
    /// </summary>
    public string? Problem(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        switch (Kind)
        {
            case MjMcpSettingKind.Number:
                var range = $" from {Min.ToString(CultureInfo.InvariantCulture)} to {Max.ToString(CultureInfo.InvariantCulture)}";
                return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= Min && value <= Max
                    ? null
                    : $"needs {What}{range}; got '{text}'";
            case MjMcpSettingKind.Url when Check is null:
                return Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                    ? null
                    : $"needs an absolute http(s) URL such as {Example}; got '{text}'";
            case MjMcpSettingKind.Choice:
                return Choices.Contains(text, StringComparer.Ordinal)
                    ? null
                    : $"must be {string.Join(", ", Choices.Take(Choices.Count - 1))} or {Choices[^1]}; got '{text}'";
            default:
                return text.Length == 0 ? $"needs a value, e.g. {Example}" : Check?.Invoke(text);
        }
    }
}

/// <summary>The settings of <see cref="MjMcpServerOptions"/>, in the order they are documented and shown.</summary>
public static class MjMcpSettings
{
    private static readonly char[] Comma = [','];

    /// <summary>Every setting, once.</summary>
    public static IReadOnlyList<MjMcpSetting> All { get; } =
    [
        new(nameof(MjMcpServerOptions.ApiKey), "MJMCP_API_KEY", "--api-key-env", "NAME", MjMcpSettingKind.Secret,
            "The name of an environment variable that holds the provider API key (default: MJMCP_API_KEY). The key itself is never a flag.",
            "MY_PROVIDER_KEY", (o, v) => o.ApiKey = v, o => o.ApiKey is null ? "(not set: the embedded sandbox)" : "(set)"),
        new(nameof(MjMcpServerOptions.BaseUrl), "MJMCP_BASE_URL", "--base-url", "URL", MjMcpSettingKind.Url,
            "Provider base URL (default: MJMCP_BASE_URL, else the spec's).",
            "https://api.apiframe.pro", (o, v) => o.BaseUrl = new Uri(v), o => Shown(o.BaseUrl)),
        new(nameof(MjMcpServerOptions.DataDir), "MJMCP_DATA_DIR", "--data-dir", "DIR", MjMcpSettingKind.Text,
            "Journal and sandbox data directory (default: MJMCP_DATA_DIR, else the per-user data folder).",
            "~/mjmcp-data", (o, v) => o.DataDir = v, o => o.DataDir),
        new(nameof(MjMcpServerOptions.WaitSeconds), "MJMCP_WAIT_SECONDS", "--wait-seconds", "N", MjMcpSettingKind.Number,
            "How long a tool waits for its task before returning the task_id (default 40).",
            "40", (o, v) => o.WaitSeconds = Number(v), o => Shown(o.WaitSeconds))
        {
            Max = MjMcpServerOptions.MaxWaitSeconds, What = "a number of seconds",
        },
        new(nameof(MjMcpServerOptions.SandboxTiming), "MJMCP_SANDBOX_TIMING", "--sandbox-timing", "instant|brisk|realistic", MjMcpSettingKind.Choice,
            "Embedded sandbox speed: instant, brisk (default) or realistic.",
            "brisk", (o, v) => o.SandboxTiming = v, o => o.SandboxTiming)
        {
            Choices = ["instant", "brisk", "realistic"],
        },
        new(nameof(MjMcpServerOptions.WebhookPort), "MJMCP_WEBHOOK_PORT", "--webhook-port", "N", MjMcpSettingKind.Number,
            "Port of the local webhook receiver (0: any free port; with a real provider it runs only when set).",
            "8787", (o, v) => o.WebhookPort = Number(v), o => Shown(o.WebhookPort))
        {
            Max = 65535, What = "a port number",
        },
        new(nameof(MjMcpServerOptions.WebhookPath), "MJMCP_WEBHOOK_PATH", "--webhook-path", "PATH", MjMcpSettingKind.Text,
            "Path of the webhook receiver (default /mjmcp/webhook).",
            "/mjmcp/webhook", (o, v) => o.WebhookPath = v, o => o.WebhookPath),
        new(nameof(MjMcpServerOptions.MaxConcurrentSubmits), "MJMCP_MAX_CONCURRENT_SUBMITS", "--max-concurrent-submits", "N", MjMcpSettingKind.Number,
            "At most this many tool calls submit at once (0: no cap; default 12 with a real provider, no cap on the sandbox).",
            "4", (o, v) => o.MaxConcurrentSubmits = Number(v), o => Shown(o.MaxConcurrentSubmits)),
        new(nameof(MjMcpServerOptions.PreviewHosts), "MJMCP_PREVIEW_HOSTS", "--preview-hosts", "HOSTS", MjMcpSettingKind.Text,
            "More hosts previews may be fetched from, comma-separated (besides the provider's).",
            "cdn.example.com", SetPreviewHosts, o => o.PreviewHosts.Count == 0 ? "(none)" : string.Join(',', o.PreviewHosts)),
        new(nameof(MjMcpServerOptions.Previews), "MJMCP_PREVIEWS", "--previews", "inline|link", MjMcpSettingKind.Choice,
            "How a finished task shows its image: inline (default: a light JPEG preview in the tool result) or link (a link to its preview resource, made only when read).",
            "link", (o, v) => o.Previews = v, o => o.Previews)
        {
            Choices = ["inline", "link"],
        },
        new(nameof(MjMcpServerOptions.BudgetCredits), "MJMCP_BUDGET_CREDITS", "--budget-credits", "N", MjMcpSettingKind.Number,
            "Spending guard: at most this many credits per server process (unset: no limit).",
            "100", (o, v) => o.BudgetCredits = Number(v), o => Shown(o.BudgetCredits))
        {
            What = "a number of credits",
        },
        new(nameof(MjMcpServerOptions.DailyBudgetCredits), "MJMCP_DAILY_BUDGET_CREDITS", "--daily-budget-credits", "N", MjMcpSettingKind.Number,
            "Spending guard: at most this many credits per UTC day, counted in the journal (unset: no limit).",
            "500", (o, v) => o.DailyBudgetCredits = Number(v), o => Shown(o.DailyBudgetCredits))
        {
            What = "a number of credits",
        },
        new(nameof(MjMcpServerOptions.OtlpEndpoint), "MJMCP_OTLP_ENDPOINT", "--otlp-endpoint", "URL", MjMcpSettingKind.Url,
            "Export traces, metrics and logs over OTLP to this collector (default: MJMCP_OTLP_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT, else none); gRPC unless OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.",
            "http://localhost:4317", (o, v) => o.OtlpEndpoint = new Uri(v), o => Shown(o.OtlpEndpoint))
        {
            Check = MjMcpServerOptions.OtlpEndpointProblem,
        },
        new(nameof(MjMcpServerOptions.Journal), "MJMCP_JOURNAL", "--journal", "CONNECTION", MjMcpSettingKind.Text,
            "The task journal: a PostgreSQL connection string for replicas that share it (default: MJMCP_JOURNAL, else SQLite in the data directory). Keep the password in PGPASSWORD or ~/.pgpass.",
            "Host=localhost;Database=mjmcp;Username=mjmcp", (o, v) => o.Journal = v,
            o => o.Journal is { Length: > 0 } journal ? PostgresTaskJournal.Describe(journal) : "(not set: SQLite in the data directory)"),
        new(nameof(MjMcpServerOptions.WebhookUrl), "MJMCP_WEBHOOK_URL", "--webhook-url", "URL", MjMcpSettingKind.Url,
            "The webhook URL the provider is told (a load balancer in front of the replicas' receivers); default: the local receiver's.",
            "https://mj.example.com/mjmcp/webhook", (o, v) => o.WebhookUrl = new Uri(v), o => Shown(o.WebhookUrl)),
        new(nameof(MjMcpServerOptions.MaxConcurrentJobs), "MJMCP_MAX_CONCURRENT_JOBS", "--max-concurrent-jobs", "N", MjMcpSettingKind.Number,
            "At most this many provider jobs run at once, each until its task is finished (across every replica on a PostgreSQL journal; 0: no cap).",
            "4", (o, v) => o.MaxConcurrentJobs = Number(v), o => Shown(o.MaxConcurrentJobs))
        {
            Max = 10_000,
        },
    ];

    /// <summary>A setting by property name (case-insensitive, as configuration keys are).</summary>
    public static MjMcpSetting? Find(string property) => All.FirstOrDefault(s => string.Equals(s.Property, property, StringComparison.OrdinalIgnoreCase));

    private static int Number(string text) => int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static string Shown(object? value) => value switch
    {
        null => "(not set)",
        int n => n.ToString(CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static void SetPreviewHosts(MjMcpServerOptions options, string list)
    {
        options.PreviewHosts.Clear();
        foreach (var host in list.Split(Comma, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            options.PreviewHosts.Add(host);
        }
    }
}
