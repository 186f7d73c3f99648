namespace MjMcp;

/// <summary>
/// One finished job as a client remembers it: the operation, how long it was queued (from its submission) and how long
/// it ran. <see cref="MjClient.SnapshotJobDurations"/> lists them and <see cref="MjClient.RestoreJobDurations"/> hands
/// them to a later client (e.g. after a restart), so its first waits plan their polls from them.
/// </summary>
/// <param name="Operation">The operation's name in the spec (e.g. imagine).</param>
/// <param name="Queue">From the submission to the start of the run.</param>
/// <param name="Run">From the start of the run to the end.</param>
/// <param name="InFlight">
/// The client's load while the job lived: the most of its tasks (this one included) submitted and not yet seen ending
/// at any moment from this one's submission to its end. A wait plans only from jobs at a like load (at most twice or
/// half as many in flight): jobs of a burst queue behind each other (at the provider, which limits jobs per account,
/// or on a machine shared with the sandbox), so they say little of a job submitted alone, and the other way round.
/// </param>
public sealed record JobDuration(string Operation, TimeSpan Queue, TimeSpan Run, int InFlight = 1);

/// <summary>How long one finished job took, from its submission: queued, then running; and the client's load meanwhile.</summary>
/// <param name="Queue">From the submission to the start of the run.</param>
/// <param name="Run">From the start of the run to the end.</param>
/// <param name="InFlight">The most of the client's tasks in flight while it lived (see <see cref="JobDuration.InFlight"/>).</param>
internal readonly record struct JobSample(TimeSpan Queue, TimeSpan Run, int InFlight = 1)
{
    public TimeSpan Total => Queue + Run;

    /// <summary>Whether a job at this load says something of one with <paramref name="inFlight"/> tasks in flight: at most twice or half as many.</summary>
    public bool LikeLoad(int inFlight) => Math.Max(InFlight, inFlight) <= 2 * Math.Min(InFlight, inFlight);
}

/// <summary>
/// What the last few finished jobs of one kind say about the next: medians, and how far the jobs strayed from them
/// (the largest deviation from the median, so one sample gives zero spread and <see cref="Samples"/> says how much
/// to trust it).
/// </summary>
internal readonly record struct JobPrior(TimeSpan Queue, TimeSpan Run, TimeSpan Total, TimeSpan QueueSpread, TimeSpan RunSpread, TimeSpan TotalSpread, int Samples)
{
    /// <summary>Two or more jobs agree: polls may be aimed from this prior alone.</summary>
    public bool Confident => Samples >= 2;
}

/// <summary>
/// A client's memory of how long jobs of each operation take: the last <see cref="Kept"/> finished jobs per
/// operation, thread-safe. Hand-written: a few medians over a handful of samples; no served library fits.
/// </summary>
internal sealed class JobDurations
{
    /// <summary>Samples kept per operation (the oldest goes first).</summary>
    public const int Kept = 5;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Queue<JobSample>> _byOperation = new(StringComparer.Ordinal);

    /// <summary>The longest queue or run kept: anything longer is not a job's duration (a clock jump, a corrupt record).</summary>
    public static readonly TimeSpan Longest = TimeSpan.FromDays(1);

    /// <summary>Keeps a finished job's durations; false (and nothing kept) when they cannot be a job's.</summary>
    public bool Add(string operation, JobSample sample)
    {
        if (string.IsNullOrEmpty(operation) || sample.Queue < TimeSpan.Zero || sample.Run <= TimeSpan.Zero || sample.Queue > Longest || sample.Run > Longest)
        {
            return false;
        }

        sample = sample with { InFlight = Math.Max(1, sample.InFlight) };

        lock (_lock)
        {
            if (!_byOperation.TryGetValue(operation, out var samples))
            {
                samples = new Queue<JobSample>(Kept + 1);
                _byOperation[operation] = samples;
            }

            samples.Enqueue(sample);
            while (samples.Count > Kept)
            {
                samples.Dequeue();
            }
        }

        return true;
    }

    /// <summary>Every kept job, oldest first within each operation (operations in name order).</summary>
    public IReadOnlyList<JobDuration> Snapshot()
    {
        lock (_lock)
        {
            return [.. _byOperation.OrderBy(o => o.Key, StringComparer.Ordinal).SelectMany(o => o.Value.Select(s => new JobDuration(o.Key, s.Queue, s.Run, s.InFlight)))];
        }
    }

    /// <summary>What the kept jobs of <paramref name="operation"/> at a load like <paramref name="inFlight"/> say; null if none was.</summary>
    public JobPrior? PriorOf(string operation, int inFlight = 1)
    {
        var load = Math.Max(1, inFlight);
        JobSample[] samples;
        lock (_lock)
        {
            if (!_byOperation.TryGetValue(operation, out var kept))
            {
                return null;
            }

            samples = [.. kept.Where(s => s.LikeLoad(load))];
        }

        if (samples.Length == 0)
        {
            return null;
        }

        var (queue, queueSpread) = MedianAndSpread(samples.Select(s => s.Queue));
        var (run, runSpread) = MedianAndSpread(samples.Select(s => s.Run));
        var (total, totalSpread) = MedianAndSpread(samples.Select(s => s.Total));
        return new JobPrior(queue, run, total, queueSpread, runSpread, totalSpread, samples.Length);
    }

    private static (TimeSpan Median, TimeSpan Spread) MedianAndSpread(IEnumerable<TimeSpan> values)
    {
        var sorted = values.Order().ToArray();
        var median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
        var spread = sorted.Max(v => (v - median).Duration());
        return (median, spread);
    }
}

/// <summary>
/// The tasks this client submitted that no wait has seen end yet: their operation and the moment of submission, so a
/// wait (also a later one, e.g. mjmcp's wait_task) knows the task's age and which jobs it resembles. Bounded: past
/// <see cref="Capacity"/> the oldest are forgotten (their waits then plan without a prior, as for a foreign task).
/// </summary>
internal sealed class SubmittedTasks
{
    public const int Capacity = 4096;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _tasks = new(StringComparer.Ordinal);
    private readonly Queue<string> _order = new();

    public void Add(string taskId, string operation, long timestamp)
    {
        lock (_lock)
        {
            _tasks[taskId] = new Entry(operation, timestamp);
            _order.Enqueue(taskId);
            while (_tasks.Count > Capacity && _order.TryDequeue(out var oldest))
            {
                _tasks.Remove(oldest);
            }

            // Every task in flight has now seen this many at once (a few thousand at most: cheap beside a submit).
            var count = _tasks.Count;
            foreach (var entry in _tasks.Values)
            {
                entry.Peak = Math.Max(entry.Peak, count);
            }

            if (_order.Count > 2 * Capacity)
            {
                // Ids of tasks already seen ending pile up in the queue: keep the live ones only, in order.
                var live = _order.Where(_tasks.ContainsKey).Distinct(StringComparer.Ordinal).ToArray();
                _order.Clear();
                foreach (var id in live)
                {
                    _order.Enqueue(id);
                }
            }
        }
    }

    /// <summary>A task's operation, submission time and the most tasks in flight so far while it lived.</summary>
    public (string Operation, long Timestamp, int InFlight)? Find(string taskId)
    {
        lock (_lock)
        {
            return _tasks.TryGetValue(taskId, out var found) ? (found.Operation, found.Timestamp, found.Peak) : null;
        }
    }

    /// <summary>Forgets a task seen ending; true for the one caller that removed it (so a job is learned once).</summary>
    public bool Remove(string taskId) => Remove(taskId, out _);

    /// <summary>As <see cref="Remove(string)"/>, with the most tasks that were in flight at once while it lived.</summary>
    public bool Remove(string taskId, out int inFlight)
    {
        lock (_lock)
        {
            var removed = _tasks.Remove(taskId, out var entry);
            inFlight = entry?.Peak ?? 1;
            return removed;
        }
    }

    private sealed class Entry(string operation, long timestamp)
    {
        public string Operation { get; } = operation;

        public long Timestamp { get; } = timestamp;

        public int Peak { get; set; } = 1;
    }
}
