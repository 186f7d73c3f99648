using MjMcp.Rules;

namespace MjMcp;

/// <summary>
/// Plans the /fetch calls of one wait from what has been seen of the task (times are from the start of the wait).
/// </summary>
/// <remarks>
/// <para>Hand-written: no served library plans polls from a job's progress. The plan, in short:</para>
/// <list type="bullet">
/// <item>The first poll comes after <see cref="MidjourneyOptions.PollInitialDelay"/>; while the task is queued the
/// gaps grow by half each time (the queue phase says nothing about when it ends).</item>
/// <item>Once it runs, progress is taken as linear. The run's start lies between the last queued sighting (or the
/// start of the wait) and the first running one; percentages are whole numbers (floored), so every sighting bounds
/// the true fraction to one percent. From the first running sighting and the latest one the planner derives the
/// earliest and latest end consistent with both. When the spread is within the lateness budget — max(300 ms, 5% of
/// the job) — the next poll is the latest possible end, which sees the task finished. Otherwise it samples again
/// about half way to the earliest end, where the rate is known well enough to aim the final poll.</item>
/// <item>A task not finished when expected (the provider is late) is polled again after a tenth of its age.</item>
/// <item>While webhooks flow (<see cref="Quiet"/>), polls wait for a silence: no poll comes before the later of the
/// planned time and the last update plus the silence limit (the larger of <see cref="MidjourneyOptions.PollMaxInterval"/>
/// and twice the longest gap between this task's updates so far).</item>
/// </list>
/// </remarks>
internal sealed class PollPlanner
{
    private static readonly TimeSpan MinBudget = TimeSpan.FromMilliseconds(300);
    private readonly MidjourneyOptions _options;
    private TimeSpan _lastQueuedAt;
    private (TimeSpan At, int Percentage)? _firstRunning;
    private (TimeSpan At, int Percentage)? _latestRunning;
    private TimeSpan _previousDelay;
    private TimeSpan? _lastHeardAt;
    private TimeSpan _longestGap;
    private TimeSpan? _expectedEnd;
    private TimeSpan _next;

    public PollPlanner(MidjourneyOptions options, bool quiet)
    {
        _options = options;
        Quiet = quiet;
        _previousDelay = options.PollInitialDelay;
        _next = options.PollInitialDelay;
    }

    /// <summary>Webhooks are expected: polls wait for a silence longer than the updates' interval.</summary>
    public bool Quiet { get; private set; }

    /// <summary>Polls made so far.</summary>
    public int Polls { get; private set; }

    /// <summary>When (from the start of the wait) the next poll is due.</summary>
    public TimeSpan NextPollAt
    {
        get
        {
            if (!Quiet)
            {
                return _next;
            }

            var silence = _options.PollMaxInterval > _longestGap * 2 ? _options.PollMaxInterval : _longestGap * 2;
            var heard = (_lastHeardAt ?? TimeSpan.Zero) + silence;
            return heard > _next ? heard : _next;
        }
    }

    /// <summary>Records a /fetch reply received at <paramref name="at"/>.</summary>
    public void Polled(TimeSpan at, TaskState state, int? percentage)
    {
        Polls++;
        if (Quiet && _lastHeardAt is null)
        {
            // A silence limit passed without a single webhook for this task: webhooks do not reach us; poll.
            Quiet = false;
        }

        Observe(at, state, percentage);
    }

    /// <summary>Records an update pushed by webhook at <paramref name="at"/>.</summary>
    public void Pushed(TimeSpan at, TaskState state, int? percentage)
    {
        Quiet = true;
        if (_lastHeardAt is { } last && at - last > _longestGap)
        {
            _longestGap = at - last;
        }

        _lastHeardAt = at;
        Observe(at, state, percentage);
    }

    /// <summary>Records a failed poll (transient): the next one backs off.</summary>
    public void PollFailed(TimeSpan at)
    {
        Polls++;
        _previousDelay = Clamp(_previousDelay * 2);
        _next = at + _previousDelay;
    }

    private void Observe(TimeSpan at, TaskState state, int? percentage)
    {
        if (state is TaskState.Running && percentage is { } pct and >= 0 and < 100)
        {
            _firstRunning ??= (at, pct);
            _latestRunning = (at, pct);
            _next = PlanFromProgress(at);
            return;
        }

        if (state is TaskState.Pending or TaskState.Unknown && _firstRunning is null)
        {
            _lastQueuedAt = at;
        }

        // Queued, retrying or without a percentage: back off by half.
        _previousDelay = Clamp(_previousDelay * 3 / 2);
        _next = at + _previousDelay;
    }

    private TimeSpan PlanFromProgress(TimeSpan now)
    {
        var (firstAt, firstPct) = _firstRunning!.Value;
        var (lastAt, lastPct) = _latestRunning!.Value;
        TimeSpan earliest, latest;
        if (lastPct - firstPct >= 2)
        {
            // Two sightings: the true fractions lie in [p, p+1) percent at each.
            var span = (lastAt - firstAt).TotalSeconds;
            earliest = lastAt + TimeSpan.FromSeconds((99 - lastPct) * span / (lastPct - firstPct + 1));
            latest = lastAt + TimeSpan.FromSeconds((100 - lastPct) * span / (lastPct - firstPct - 1));
        }
        else if (firstPct == 0 && lastPct == 0)
        {
            // The run began within one percent of it before the first sighting, at a rate not known yet.
            return Overdue(now);
        }
        else
        {
            // One useful sighting: the run began between the last queued sighting and the first running one.
            var running = (lastAt - _lastQueuedAt).TotalSeconds;
            latest = _lastQueuedAt + TimeSpan.FromSeconds(running * 100 / Math.Max(lastPct, 1));
            earliest = lastAt + TimeSpan.FromSeconds(running * 0.02);
            if (_expectedEnd is null && lastPct > 0)
            {
                // Sample again before the end can come, far enough on for the rate to tell the end closely.
                var probe = now + ((latest - now) / 2);
                var cap = now + Clamp(now > _options.PollMinInterval ? now : _options.PollMinInterval);
                return AtLeastMin(now, probe < cap ? probe : cap);
            }
        }

        var middle = earliest + ((latest - earliest) / 2);
        var budget = middle * 0.05 > MinBudget ? middle * 0.05 : MinBudget;
        if (latest - middle <= budget || (_expectedEnd is { } planned && now >= planned))
        {
            _expectedEnd = latest;
            return latest > now ? AtLeastMin(now, latest) : Overdue(now);
        }

        // Not yet precise: sample again half way to the earliest end.
        var sample = now + ((earliest - now) / 2);
        return AtLeastMin(now, sample);
    }

    /// <summary>Not finished when planned, or no rate yet: poll again after a tenth of the task's age (clamped).</summary>
    private TimeSpan Overdue(TimeSpan now)
    {
        var wait = now / 10 > _options.PollMinInterval ? now / 10 : _options.PollMinInterval;
        if (_firstRunning is { Percentage: 0 } first && _latestRunning is { Percentage: 0 })
        {
            // Seen at 0%: the next sighting a while on gives the rate (the run began just before).
            wait = Clamp(now - first.At > _previousDelay ? now - first.At : _previousDelay);
        }

        _previousDelay = Clamp(wait);
        return now + _previousDelay;
    }

    private TimeSpan AtLeastMin(TimeSpan now, TimeSpan at) => at - now < _options.PollMinInterval ? now + _options.PollMinInterval : at;

    private TimeSpan Clamp(TimeSpan value) =>
        value < _options.PollMinInterval ? _options.PollMinInterval : value > _options.PollMaxInterval ? _options.PollMaxInterval : value;
}
