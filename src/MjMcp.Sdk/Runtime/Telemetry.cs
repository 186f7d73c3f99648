using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace MjMcp;

/// <summary>
/// The names under which the SDK reports traces and metrics, with System.Diagnostics only (no OpenTelemetry
/// dependency): subscribe with OpenTelemetry (<c>AddSource(MjTelemetry.SourceName)</c>,
/// <c>AddMeter(MjTelemetry.MeterName)</c>) or any ActivityListener / MeterListener. With no listener nothing is
/// recorded. Tag values are operations, task ids, statuses and outcomes: never the API key, a request body, a
/// header or a URL.
/// </summary>
public static class MjTelemetry
{
    /// <summary>The ActivitySource of the SDK's spans: submit, fetch, wait and webhook update.</summary>
    public const string SourceName = "MjMcp.Sdk";

    /// <summary>The Meter of the SDK's metrics.</summary>
    public const string MeterName = "MjMcp.Sdk";

    /// <summary>Counter: submits, by <see cref="Tags.Operation"/> and <see cref="Tags.Outcome"/> (accepted, invalid, refused, uncertain, not_sent).</summary>
    public const string SubmitsMetric = "mjmcp.sdk.submits";

    /// <summary>Counter: /fetch polls made while waiting, by <see cref="Tags.Outcome"/> (the task's state, or error).</summary>
    public const string PollsMetric = "mjmcp.sdk.polls";

    /// <summary>Histogram (s): how long waits took, by <see cref="Tags.Outcome"/> (finished, failed, timeout, cancelled, error).</summary>
    public const string WaitDurationMetric = "mjmcp.sdk.wait.duration";

    /// <summary>Counter: credits of accepted submits (the rule table's cost), by <see cref="Tags.Operation"/>.</summary>
    public const string CreditsMetric = "mjmcp.sdk.credits.spent";

    /// <summary>Counter: task updates handed to the client by webhook, by <see cref="Tags.Status"/>.</summary>
    public const string WebhookUpdatesMetric = "mjmcp.sdk.webhook.updates";

    /// <summary>The tag (attribute) names the SDK and the MCP server use.</summary>
    public static class Tags
    {
        /// <summary>The spec's operation name (imagine, upscale-1x, …).</summary>
        public const string Operation = "mjmcp.operation";

        /// <summary>The provider's task id.</summary>
        public const string TaskId = "mjmcp.task_id";

        /// <summary>The parent task id of a submit.</summary>
        public const string ParentTaskId = "mjmcp.parent_task_id";

        /// <summary>How the step ended.</summary>
        public const string Outcome = "mjmcp.outcome";

        /// <summary>The provider's status string.</summary>
        public const string Status = "mjmcp.status";

        /// <summary>The task's state (pending, running, retrying, finished, failed, unknown).</summary>
        public const string State = "mjmcp.state";

        /// <summary>How many /fetch polls a wait made.</summary>
        public const string Polls = "mjmcp.polls";

        /// <summary>How many webhook updates a wait used.</summary>
        public const string Pushed = "mjmcp.webhook_updates";

        /// <summary>The credits an accepted submit costs.</summary>
        public const string Credits = "mjmcp.credits";

        /// <summary>The OpenTelemetry semantic convention for the kind of error (an exception type's name).</summary>
        public const string ErrorType = "error.type";
    }
}

/// <summary>The SDK's ActivitySource, Meter and instruments (a listener-free source and meter cost next to nothing).</summary>
internal static class SdkTelemetry
{
    private static readonly string? Version = typeof(SdkTelemetry).Assembly.GetName().Version?.ToString(3);

    public static readonly ActivitySource Source = new(MjTelemetry.SourceName, Version);

    public static readonly Meter Meter = new(MjTelemetry.MeterName, Version);

    public static readonly Counter<long> Submits = Meter.CreateCounter<long>(MjTelemetry.SubmitsMetric, "{submit}", "Submits to the provider, by operation and outcome.");

    public static readonly Counter<long> Polls = Meter.CreateCounter<long>(MjTelemetry.PollsMetric, "{poll}", "/fetch polls made while waiting for tasks, by outcome.");

    public static readonly Histogram<double> WaitDuration = Meter.CreateHistogram(
        MjTelemetry.WaitDurationMetric,
        "s",
        "How long waits for tasks took, by outcome.",
        tags: null,
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 45, 60, 120, 300, 600] });

    public static readonly Counter<long> Credits = Meter.CreateCounter<long>(MjTelemetry.CreditsMetric, "{credit}", "Credits of the submits the provider accepted (the spec's cost), by operation.");

    public static readonly Counter<long> WebhookUpdates = Meter.CreateCounter<long>(MjTelemetry.WebhookUpdatesMetric, "{update}", "Task updates received by webhook, by status.");

    /// <summary>The outcome of a submit that threw: whether the provider may have made the task, refused it or never saw it.</summary>
    public static string SubmitOutcome(Exception ex) => ex switch
    {
        MjValidationException => "invalid",
        MjException { MayHaveCreatedTask: true } => "uncertain",
        MjProviderException => "refused",
        MjTransportException => "not_sent",
        OperationCanceledException => "cancelled",
        _ => "error",
    };

    /// <summary>Marks a span failed with the exception's type only (its message may quote the provider; never a secret, but kept out).</summary>
    public static void Failed(Activity? activity, Exception ex, string outcome)
    {
        if (activity is null)
        {
            return;
        }

        activity.SetTag(MjTelemetry.Tags.Outcome, outcome);
        activity.SetTag(MjTelemetry.Tags.ErrorType, ex.GetType().Name);
        activity.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
    }

    /// <summary>Counts a failed poll; always true, so it can sit in an exception filter.</summary>
    public static bool PollFailed()
    {
        Polls.Add(1, new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, "error"));
        return true;
    }

    /// <summary>A state as a lower-case tag value.</summary>
    public static string Name(Rules.TaskState state) => state switch
    {
        Rules.TaskState.Pending => "pending",
        Rules.TaskState.Running => "running",
        Rules.TaskState.Retrying => "retrying",
        Rules.TaskState.Finished => "finished",
        Rules.TaskState.Failed => "failed",
        _ => "unknown",
    };
}
