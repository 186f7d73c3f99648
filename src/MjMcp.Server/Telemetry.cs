using System.Collections;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using MjMcp.Rules;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace MjMcp.Server;

/// <summary>
/// The names under which the MCP server reports traces and metrics (the SDK's are in <see cref="MjTelemetry"/>). With an
/// OTLP endpoint configured (<see cref="MjMcpServerOptions.OtlpEndpoint"/> or OTEL_EXPORTER_OTLP_ENDPOINT) both, and the
/// server's log lines, are exported; otherwise nothing listens and nothing is recorded. Tag values are tool names,
/// operations, task ids, states and refusal codes: never the API key, the webhook secret, a request body, a header or a URL.
/// </summary>
public static class MjMcpServerTelemetry
{
    /// <summary>The ActivitySource of the server's spans: tool calls, journal operations, webhook receipts.</summary>
    public const string SourceName = "MjMcp.Server";

    /// <summary>The Meter of the server's metrics.</summary>
    public const string MeterName = "MjMcp.Server";

    /// <summary>Counter: tool calls, by tool and outcome (ok, refused, error).</summary>
    public const string ToolCallsMetric = "mjmcp.server.tool.calls";

    /// <summary>Histogram (s): how long tool calls took, by tool and outcome.</summary>
    public const string ToolDurationMetric = "mjmcp.server.tool.duration";

    /// <summary>Counter: refusals (results with an error code), by tool and code.</summary>
    public const string RefusalsMetric = "mjmcp.server.refusals";

    /// <summary>Histogram (s): how long calls queued for a submit slot (the spend cap), by outcome (acquired, timeout).</summary>
    public const string QueueWaitMetric = "mjmcp.server.submit_queue.wait";

    /// <summary>Gauge: the journal's tasks, by state.</summary>
    public const string TasksMetric = "mjmcp.server.tasks";

    /// <summary>Counter: credits of the submits the provider accepted, by operation.</summary>
    public const string CreditsMetric = "mjmcp.server.credits.spent";

    /// <summary>Counter: webhook requests, by outcome (accepted, refused) and HTTP status.</summary>
    public const string WebhooksMetric = "mjmcp.server.webhooks";

    /// <summary>The environment variable of the standard OTLP endpoint; setting it turns export on.</summary>
    public const string OtlpEndpointVariable = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The server's own tag names (the shared ones are <see cref="MjTelemetry.Tags"/>).</summary>
    public static class Tags
    {
        /// <summary>The MCP tool's name.</summary>
        public const string Tool = "mjmcp.tool";

        /// <summary>A refusal's error code (see the refusal table).</summary>
        public const string Code = "mjmcp.refusal.code";

        /// <summary>A journal operation: read or write.</summary>
        public const string JournalKind = "mjmcp.journal.kind";

        /// <summary>What a journal operation did, as a low-cardinality summary of its SQL (SELECT tasks, UPDATE intents).</summary>
        public const string JournalQuery = "db.query.summary";

        /// <summary>The HTTP status a webhook request was answered with.</summary>
        public const string HttpStatus = "http.response.status_code";
    }
}

/// <summary>The server's ActivitySource, Meter and instruments, and the OpenTelemetry registration.</summary>
internal static partial class ServerTelemetry
{
    private static readonly string? Version = typeof(ServerTelemetry).Assembly.GetName().Version?.ToString(3);

    public static readonly ActivitySource Source = new(MjMcpServerTelemetry.SourceName, Version);

    public static readonly Meter Meter = new(MjMcpServerTelemetry.MeterName, Version);

    private static readonly Counter<long> ToolCalls = Meter.CreateCounter<long>(MjMcpServerTelemetry.ToolCallsMetric, "{call}", "MCP tool calls, by tool and outcome.");

    private static readonly Histogram<double> ToolDuration = Meter.CreateHistogram(
        MjMcpServerTelemetry.ToolDurationMetric,
        "s",
        "How long MCP tool calls took, by tool and outcome.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 40, 50, 60] });

    private static readonly Counter<long> Refusals = Meter.CreateCounter<long>(MjMcpServerTelemetry.RefusalsMetric, "{refusal}", "Tool results with an error code, by tool and code.");

    private static readonly Histogram<double> QueueWait = Meter.CreateHistogram(
        MjMcpServerTelemetry.QueueWaitMetric,
        "s",
        "Queue wait: how long calls waited for a submit slot of the spend cap, by outcome.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 40, 50] });

    private static readonly Counter<long> Credits = Meter.CreateCounter<long>(MjMcpServerTelemetry.CreditsMetric, "{credit}", "Credits of the submits the provider accepted (the spec's cost), by operation.");

    private static readonly Counter<long> Webhooks = Meter.CreateCounter<long>(MjMcpServerTelemetry.WebhooksMetric, "{request}", "Webhook requests, by outcome and HTTP status.");

    /// <summary>
    /// Exports traces, metrics and logs over OTLP when an endpoint is configured: <see cref="MjMcpServerOptions.OtlpEndpoint"/>
    /// (MJMCP_OTLP_ENDPOINT, --otlp-endpoint), else OTEL_EXPORTER_OTLP_ENDPOINT; the other standard OTEL_* variables
    /// (protocol, headers, export intervals) apply. Without one nothing is registered: no exporter, no listener.
    /// </summary>
    public static void AddExport(IHostApplicationBuilder builder, MjMcpServerOptions options, string serviceName)
    {
        // The OpenTelemetry SDK reads OTEL_* settings from the host's configuration, which has no environment variables
        // when the host was made with CreateEmptyApplicationBuilder (mjmcp's is); AddEnvironmentVariables("OTEL_") would
        // strip the prefix, so the variables are copied under their own names. The setting wins over the variable.
        var settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (DictionaryEntry variable in Environment.GetEnvironmentVariables())
        {
            if (variable.Key is string name && name.StartsWith("OTEL_", StringComparison.OrdinalIgnoreCase) && variable.Value is string { Length: > 0 } value)
            {
                settings[name] = value;
            }
        }

        if (options.OtlpEndpoint is { } endpoint)
        {
            settings[MjMcpServerTelemetry.OtlpEndpointVariable] = endpoint.AbsoluteUri;
        }

        // Configured: the general endpoint or a signal's own (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, …), as a variable or in the configuration.
        string[] endpoints = [MjMcpServerTelemetry.OtlpEndpointVariable, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"];
        if (!endpoints.Any(name => settings.ContainsKey(name) || builder.Configuration[name] is { Length: > 0 }))
        {
            return;
        }

        builder.Configuration.AddInMemoryCollection(settings);

        // Only the server's own log lines (and warnings from the rest): HTTP client lines would carry URLs.
        builder.Logging.AddFilter<OpenTelemetryLoggerProvider>(null, LogLevel.Warning);
        builder.Logging.AddFilter<OpenTelemetryLoggerProvider>("MjMcp", LogLevel.Information);
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(serviceName, serviceVersion: System.Reflection.Assembly.GetEntryAssembly()?.GetName().Version?.ToString(3) ?? Version))
            .WithTracing(tracing => tracing.AddSource(MjTelemetry.SourceName, MjMcpServerTelemetry.SourceName))
            .WithMetrics(metrics => metrics
                .AddMeter(MjTelemetry.MeterName, MjMcpServerTelemetry.MeterName)
                .AddInstrumentation(sp => new TaskGauge(sp.GetRequiredService<ITaskJournal>())))
            .WithLogging(configureBuilder: null, configureOptions: o => o.IncludeScopes = true) // the TaskId scope, with the trace and span ids
            .UseOtlpExporter();
    }

    /// <summary>The tool-call filter: a span per call (tool, outcome, refusal code, task id), the call and refusal counters, the duration.</summary>
    public static McpRequestHandler<CallToolRequestParams, CallToolResult> ToolCallFilter(McpRequestHandler<CallToolRequestParams, CallToolResult> next) => async (request, cancellationToken) =>
    {
        if (!Source.HasListeners() && !ToolCalls.Enabled && !Refusals.Enabled && !ToolDuration.Enabled)
        {
            return await next(request, cancellationToken).ConfigureAwait(false); // nothing observes: no work at all
        }

        var tool = request.Params?.Name ?? "unknown";
        var started = Stopwatch.GetTimestamp();
        using var activity = Source.StartActivity("tools/call " + tool, ActivityKind.Server);
        activity?.SetTag(MjMcpServerTelemetry.Tags.Tool, tool);
        var arguments = request.Params?.Arguments;
        var argumentTask = Text(arguments, "task_id");
        activity?.SetTag(MjTelemetry.Tags.ParentTaskId, Text(arguments, "parent_task_id"));
        using var scope = argumentTask is null ? null : TaskScope(request.Services?.GetService<ILoggerFactory>()?.CreateLogger("MjMcp.Server"), argumentTask);
        var outcome = "error";
        string? code = null;
        try
        {
            var result = await next(request, cancellationToken).ConfigureAwait(false);
            code = ErrorCode(result);
            outcome = result.IsError != true ? "ok" : code is null ? "error" : "refused";
            if (activity is not null)
            {
                activity.SetTag(MjTelemetry.Tags.TaskId, Text(result.StructuredContent, "task_id") ?? argumentTask);
                activity.SetTag(MjMcpServerTelemetry.Tags.Code, code);
                if (outcome != "ok")
                {
                    activity.SetStatus(ActivityStatusCode.Error, code);
                }
            }

            return result;
        }
        catch (Exception ex)
        {
            activity?.SetTag(MjTelemetry.Tags.ErrorType, ex.GetType().Name);
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
        finally
        {
            activity?.SetTag(MjTelemetry.Tags.Outcome, outcome);
            var toolTag = new KeyValuePair<string, object?>(MjMcpServerTelemetry.Tags.Tool, tool);
            var outcomeTag = new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, outcome);
            ToolCalls.Add(1, toolTag, outcomeTag);
            ToolDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, toolTag, outcomeTag);
            if (code is not null)
            {
                Refusals.Add(1, toolTag, new KeyValuePair<string, object?>(MjMcpServerTelemetry.Tags.Code, code));
            }
        }
    };

    /// <summary>
    /// A logging scope with the task id (OpenTelemetry logs carry it as an attribute, next to the trace and span ids), and
    /// the task id on the current tool-call span.
    /// </summary>
    public static IDisposable? TaskScope(ILogger? logger, string taskId)
    {
        if (Activity.Current is { } current && current.Source == Source && current.GetTagItem(MjTelemetry.Tags.TaskId) is null)
        {
            current.SetTag(MjTelemetry.Tags.TaskId, taskId);
        }

        return logger?.BeginScope(new TaskIdScope(taskId));
    }

    /// <summary>Records how long a call queued for a submit slot.</summary>
    public static void QueuedForSlot(long startedTimestamp, bool acquired) =>
        QueueWait.Record(Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds, new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, acquired ? "acquired" : "timeout"));

    /// <summary>Counts the credits of a submit the provider accepted.</summary>
    public static void Spent(OperationRule operation, JsonElement body) =>
        Credits.Add(operation.CreditsOf(body), new KeyValuePair<string, object?>(MjTelemetry.Tags.Operation, operation.Name));

    /// <summary>A span for one journal operation (read or write), named by what its statements do ("write UPDATE tasks").</summary>
    public static Activity? Journal(string kind, IEnumerable<string> statements)
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        var summary = string.Join(", ", statements.Select(SqlSummary).Distinct(StringComparer.Ordinal));
        var activity = Source.StartActivity("journal " + kind, ActivityKind.Internal);
        activity?.SetTag(MjMcpServerTelemetry.Tags.JournalKind, kind);
        activity?.SetTag(MjMcpServerTelemetry.Tags.JournalQuery, summary);
        return activity;
    }

    /// <summary>
    /// The span of one webhook request: a root span (the HTTP server's own activity is neither exported nor sampled),
    /// ended by <see cref="WebhookAnswered"/>.
    /// </summary>
    public static Activity? WebhookReceive()
    {
        if (!Source.HasListeners())
        {
            return null;
        }

        Activity.Current = null;
        return Source.StartActivity("webhook receive", ActivityKind.Server);
    }

    /// <summary>Tags the webhook span with the update's task.</summary>
    public static void WebhookTask(string taskId, string? status)
    {
        if (Activity.Current is { } current && current.Source == Source)
        {
            current.SetTag(MjTelemetry.Tags.TaskId, taskId);
            current.SetTag(MjTelemetry.Tags.Status, status);
        }
    }

    /// <summary>Ends a webhook request's span and counts it: accepted (200) or refused (any other status).</summary>
    public static void WebhookAnswered(Activity? activity, int status)
    {
        var outcome = status == 200 ? "accepted" : "refused";
        if (activity is not null)
        {
            activity.SetTag(MjTelemetry.Tags.Outcome, outcome);
            activity.SetTag(MjMcpServerTelemetry.Tags.HttpStatus, status);
            if (status != 200)
            {
                activity.SetStatus(ActivityStatusCode.Error, outcome);
            }

            activity.Dispose();
        }

        Webhooks.Add(1, new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, outcome), new KeyValuePair<string, object?>(MjMcpServerTelemetry.Tags.HttpStatus, status));
    }

    /// <summary>"SELECT tasks", "UPDATE intents": the statement's verb and first table; never its values (they are parameters).</summary>
    internal static string SqlSummary(string sql)
    {
        var verb = VerbPattern().Match(sql);
        var table = TablePattern().Match(sql);
        return (verb.Success ? verb.Groups[1].Value.ToUpperInvariant() : "SQL") + (table.Success ? " " + table.Groups[1].Value : string.Empty);
    }

    [GeneratedRegex(@"\A\s*([A-Za-z]+)")]
    private static partial Regex VerbPattern();

    [GeneratedRegex(@"\b(?:FROM|INTO|UPDATE)\s+([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.IgnoreCase)]
    private static partial Regex TablePattern();

    private static string? ErrorCode(CallToolResult result) =>
        result.StructuredContent is { ValueKind: JsonValueKind.Object } structured &&
        structured.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object &&
        error.TryGetProperty("code", out var code) && code.ValueKind == JsonValueKind.String
            ? code.GetString()
            : null;

    private static string? Text(JsonElement? element, string name) =>
        element is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty(name, out var value) ? Short(value) : null;

    private static string? Text(IDictionary<string, JsonElement>? arguments, string name) =>
        arguments is not null && arguments.TryGetValue(name, out var value) ? Short(value) : null;

    // An agent's argument: a task id is short; anything longer is not one and is not worth a tag.
    private static string? Short(JsonElement value) =>
        value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 and <= 128 } text ? text : null;

    /// <summary>The TaskId logging scope (a list of one pair, as scope formatters and OpenTelemetry read it).</summary>
    private sealed class TaskIdScope(string taskId) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        public int Count => 1;

        public KeyValuePair<string, object?> this[int index] => index == 0 ? new("TaskId", taskId) : throw new ArgumentOutOfRangeException(nameof(index));

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
        {
            yield return this[0];
        }

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => "TaskId:" + taskId;
    }

    /// <summary>The "tasks by state" gauge over the journal, made when the meter provider is built (so only with export on).</summary>
    private sealed class TaskGauge : IDisposable
    {
        private readonly Meter _meter = new(MjMcpServerTelemetry.MeterName, Version);

        public TaskGauge(ITaskJournal journal) =>
            _meter.CreateObservableGauge(MjMcpServerTelemetry.TasksMetric, () => Observe(journal), "{task}", "The journal's tasks, by state.");

        public void Dispose() => _meter.Dispose();

        private static IEnumerable<Measurement<long>> Observe(ITaskJournal journal)
        {
            IReadOnlyDictionary<TaskState, long> counts;
            using var quiet = SuppressInstrumentationScope.Begin(); // the gauge's own journal read is no span of its own
            try
            {
                counts = journal.CountByState();
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
            {
                return []; // a journal that cannot be read now has no figure this time
            }

            return counts.Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>(MjTelemetry.Tags.State, c.Key.ToString().ToLowerInvariant())));
        }
    }
}
