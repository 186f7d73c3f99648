using System.Collections.Concurrent;
using MjMcp.Rules;

namespace MjMcp.Sandbox;

/// <summary>How the sandbox behaves.</summary>
public sealed class SandboxOptions
{
    /// <summary>0 picks a free port; the sandbox always binds 127.0.0.1.</summary>
    public int Port { get; set; }

    /// <summary>Null: a fresh temporary directory deleted on dispose; else durable storage for tasks and images.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Null accepts any non-empty key; else the key must match (bare or "Bearer &lt;key&gt;").</summary>
    public string? ApiKey { get; set; }

    /// <summary>How long tasks queue and run.</summary>
    public SandboxTiming Timing { get; set; } = SandboxTiming.Instant;

    /// <summary>Prompts containing one of these words (whole word, any case) fail moderation.</summary>
    public IList<string> BannedWords { get; } = ["forbidden"];

    /// <summary>Injected faults.</summary>
    public SandboxFaults Faults { get; set; } = new();

    /// <summary>
    /// The storage limit: every byte stored counts (images and task JSON). Beyond it, the oldest finished tasks are evicted,
    /// except tasks younger than <see cref="MinRetention"/> and tasks an unfinished task depends on (a soft limit: when only
    /// such tasks remain, the store stays above it until they may go).
    /// </summary>
    public long MaxStorageBytes { get; set; } = 2L << 30;

    /// <summary>A finished task is never evicted before it has been finished this long (default 10 minutes), so clients can fetch and chain it.</summary>
    public TimeSpan MinRetention { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Hosts ("host" for any port, or "host:port"; IPv6 as "[::1]:8080") whose image URLs the sandbox may fetch for
    /// describe, blend, faceswap and any other image URL field. Empty by default: only the sandbox's own images
    /// (its base URL + images/{id}/{name}.png, read from storage) are accepted, and nothing is fetched.
    /// </summary>
    public IList<string> AllowedImageHosts { get; } = [];

    /// <summary>Credits of the account at start.</summary>
    public long StartingCredits { get; set; } = 10_000;

    /// <summary>The long side of a generated candidate (1024 like the provider; load tests use less).</summary>
    public int CandidateSize { get; set; } = 1024;

    /// <summary>
    /// Null: only the provider's endpoints the sandbox imitates by hand. Else every operation of this rule table whose
    /// path the sandbox does not imitate is served generically from its forms, parent rules, stage or result.
    /// </summary>
    public SpecRules? Spec { get; set; }

    /// <summary>
    /// True: besides pending and processing, tasks pass through the provider's other documented statuses, decided per task
    /// by a sequence seeded with <see cref="StatusSeed"/>: <c>staged</c> and/or <c>starting</c> after <c>pending</c> in the
    /// queue phase (when <see cref="SandboxTiming.Queued"/> is above zero) and sometimes a <c>retrying</c> episode while
    /// processing (when <see cref="SandboxTiming.Running"/> is above zero), in /fetch, /fetch-many and webhooks alike.
    /// <see cref="SandboxTiming.Realistic"/> implies it.
    /// </summary>
    public bool ExtendedStatuses { get; set; }

    /// <summary>The seed of the sequence that decides each task's extended statuses (see <see cref="ExtendedStatuses"/>).</summary>
    public int StatusSeed { get; set; } = 1;

    /// <summary>
    /// True: error bodies exactly as the provider documents them: 400 (and 429) is <c>{"errors":[{"msg":"…"}]}</c> with no
    /// top-level <c>message</c>, 401 and 500 are <c>{}</c>. False (default): every error body carries <c>errors[].msg</c>
    /// and the same text as <c>message</c>, which the provider's own SDK reads.
    /// </summary>
    public bool Strict { get; set; }

    /// <summary>The clock.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>How long a task stays queued and then runs.</summary>
/// <param name="Queued">Time in pending.</param>
/// <param name="Running">Time in processing, with a rising percentage.</param>
public sealed record SandboxTiming(TimeSpan Queued, TimeSpan Running)
{
    /// <summary>Finished as soon as the images are rendered.</summary>
    public static SandboxTiming Instant { get; } = new(TimeSpan.Zero, TimeSpan.Zero);

    /// <summary>Like the real provider, for demos.</summary>
    public static SandboxTiming Realistic { get; } = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(25));
}

/// <summary>Faults to inject, decided by a seeded random sequence so a run is repeatable.</summary>
public sealed class SandboxFaults
{
    /// <summary>The seed of the fault sequence.</summary>
    public int Seed { get; set; } = 1;

    /// <summary>Faults on mutating endpoints (decided before any task is created).</summary>
    public FaultRates Submit { get; set; } = new();

    /// <summary>Faults on /fetch and /fetch-many.</summary>
    public FaultRates Fetch { get; set; } = new();
}

/// <summary>Rates (0..1) of each fault and a fixed latency.</summary>
public sealed class FaultRates
{
    /// <summary>429 with Retry-After: 1.</summary>
    public double TooManyRequests { get; set; }

    /// <summary>500.</summary>
    public double ServerError { get; set; }

    /// <summary>The connection is dropped without an answer.</summary>
    public double DropConnection { get; set; }

    /// <summary>Added before every answer.</summary>
    public TimeSpan Latency { get; set; }
}

/// <summary>What the sandbox has seen, for tests.</summary>
public sealed class SandboxCounters
{
    private readonly ConcurrentDictionary<string, int> _requests = new(StringComparer.Ordinal);
    private int _accepted;
    private int _total;
    private int _maxRunning;

    /// <summary>Submissions that created a task.</summary>
    public int AcceptedSubmissions => Volatile.Read(ref _accepted);

    /// <summary>Every request.</summary>
    public int TotalRequests => Volatile.Read(ref _total);

    /// <summary>The most jobs that were running (accepted, not yet finished or failed) at one moment since the start or <see cref="Reset"/>: the provider's concurrency limit is checked against it.</summary>
    public int MaxRunning => Volatile.Read(ref _maxRunning);

    /// <summary>Requests to one path (e.g. "/fetch"), rejected and faulted ones included.</summary>
    public int Requests(string path) => _requests.TryGetValue(path, out var n) ? n : 0;

    /// <summary>Clears every counter.</summary>
    public void Reset()
    {
        _requests.Clear();
        Interlocked.Exchange(ref _accepted, 0);
        Interlocked.Exchange(ref _total, 0);
        Interlocked.Exchange(ref _maxRunning, 0);
    }

    /// <summary>Jobs running now (counted when one is accepted: only then can the number rise).</summary>
    internal void Running(int running)
    {
        var max = Volatile.Read(ref _maxRunning);
        while (running > max && Interlocked.CompareExchange(ref _maxRunning, running, max) is var seen && seen != max)
        {
            max = seen;
        }
    }

    internal void Request(string path)
    {
        _requests.AddOrUpdate(path, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _total);
    }

    internal void Accepted() => Interlocked.Increment(ref _accepted);
}
