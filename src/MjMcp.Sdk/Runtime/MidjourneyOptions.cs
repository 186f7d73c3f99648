namespace MjMcp;

/// <summary>Settings of <see cref="MjClient"/> (and the generated MidjourneyClient). The API key is never logged or shown.</summary>
public sealed class MidjourneyOptions
{
    /// <summary>The provider's base URL (default from the spec). A path prefix is kept.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The provider API key.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Prefix of the key in the auth header (default from the spec: none; some gateways want "Bearer").</summary>
    public string? AuthScheme { get; set; }

    /// <summary>
    /// The first poll of a new task comes after this, unless the client has already seen jobs of the same operation
    /// finish (or was given them with <see cref="MjClient.RestoreJobDurations"/>): it then plans from what the last few
    /// took (the first poll aimed just past the expected end of a short job, else a little into the expected run).
    /// </summary>
    public TimeSpan PollInitialDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Polls are never closer than this, except one per task: a poll aimed at the task's predicted end may come a quarter
    /// of this after the one before, so that a sighting just under this interval before the end does not make the task
    /// late (a 3.5 s job seen at 80% at 3 s is seen finished at 3.5 s, not 4 s).
    /// </summary>
    public TimeSpan PollMinInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Polls are never further apart than this, except a poll aimed from a known progress rate at the predicted end (or,
    /// with the task's own rate not yet precise, one more sighting before the earliest end): the rate from two progress
    /// sightings of the task, or from one and earlier jobs of the same operation that agree. While webhooks flow (a webhook is set with
    /// <c>UseWebhook</c>), a wait polls only after a silence longer than this (or twice the longest gap between the
    /// task's updates), or, when the progress they carried bounds the end, once that end has passed by the lateness
    /// budget (max(300 ms, 5% of the job)) plus the longest gap: the final update was lost.
    /// </summary>
    public TimeSpan PollMaxInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long WaitAsync waits when no timeout is given.</summary>
    public TimeSpan DefaultWaitTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How many /fetch failures in a row WaitAsync survives before it gives up.</summary>
    public int MaxConsecutiveFetchFailures { get; set; } = 5;

    /// <summary>Returns the type name only: the key must never reach a log.</summary>
    public override string ToString() => $"MidjourneyOptions(BaseUrl = {BaseUrl}, ApiKey = {(string.IsNullOrEmpty(ApiKey) ? "(none)" : "***")})";
}
