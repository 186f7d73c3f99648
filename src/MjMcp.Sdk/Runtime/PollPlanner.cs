using MjMcp.Rules;

namespace MjMcp;

/// <summary>
/// Plans the /fetch calls of one wait from what has been seen of the task (times are the task's age: from its submission
/// when this client made it, else from the start of the wait).
/// </summary>
/// <remarks>
/// <para>Hand-written: no served library plans polls from a job's progress. The plan, in short:</para>
/// <list type="bullet">
/// <item>The first poll comes after <see cref="MidjourneyOptions.PollInitialDelay"/>; while the task is queued the
/// gaps grow by half each time (the queue phase says nothing about when it ends).</item>
/// <item>Once it runs, progress is taken as linear. The run's start lies between the last queued sighting (or the
/// start of the wait) and the first running one; percentages are whole numbers (floored), so every sighting bounds
/// the true fraction to one percent.</item>
/// <item>One running sighting (p% at age t) bounds the end from above only: the run began after the last queued
/// sighting q, so it ends by q + (t - q) / p. From below nothing bounds it (a run begun just before t may be short),
/// so the planner assumes a run no shorter than the queue before it: the end is then no earlier than 2t / (1 + f),
/// f = (p + 1)%. The next poll comes there (at most PollMaxInterval on), or at the upper bound when the two are within
/// the budget.</item>
/// <item>From two running sightings (at least 2% apart) it derives the earliest and latest end consistent with both.
/// When latest - earliest is within the lateness budget — max(300 ms, 5% of the job) — the next poll is the latest
/// end: it sees the task finished, late by at most that spread. Otherwise it samples once more: from the first moment
/// at which a sighting (at the rate seen) would pin the end within 70% of the budget, half way on to PollMinInterval
/// before the earliest end (so the aimed poll after it is not held back by PollMinInterval); with no room for that,
/// at the earliest end plus the budget.</item>
/// <item>Why a first job (no prior) cannot be held to 3 polls within the budget, by any plan: polls are the only
/// input (status and a whole percentage), so jobs that look alike at every poll so far get the same next poll. Take
/// jobs written (queue, run) in seconds, all 3–60 s long. (1, 2) ends at 3 s, so some poll, and so the first, comes by
/// 3.3 s; every job queued 3.4 s or more is then seen queued. Let t2 be the plan's second poll for those.
/// If t2 is 5 s or less, (5, 25) and (5, 55) look alike at both polls, and the third must be within 1.5 s after 30 s
/// and within 3 s after 60 s at once. If t2 is after 10.5 s, (4, 6) is seen late (it ends at 10 s, budget 0.5 s).
/// Else (5, r1) and (3.4, r2) with r1 = 56 (t2 - 5) / (t2 - 3.4) and r2 = 56 show the same fraction done at t2, so
/// the same percentage: they end at 5 + r1 and 59.4 s, at least 11 s apart (r1 ≤ 43.4), while the later of the two
/// budgets is under 3 s. A plan may also ask more than 3 polls of some of these; this one takes 2 (3 s), 4 (10–20 s),
/// 5 (a queued sighting, then the rest) and meets the budget at every length (bench b, PollPlannerGridTests).
/// With earlier jobs of the operation remembered (<see cref="JobPrior"/>), 1–2.</item>
/// <item>A task not finished when expected (the provider is late) is polled again after a tenth of its age.</item>
/// <item>While webhooks flow (<see cref="Quiet"/>), polls wait for a silence: no poll comes before the later of the
/// planned time and the last update plus the silence limit (the larger of <see cref="MidjourneyOptions.PollMaxInterval"/>
/// and twice the longest gap between this task's updates so far). When the pushed progress bounds the end (two
/// sightings, one sighting after a queued one, or one and earlier jobs that agree), the silence ends at that latest end
/// plus the budget plus the longest gap between updates so far, if sooner: the final update was due by then (at the
/// end, or at the provider's next report after it), so it was lost. Webhooks that arrive cost no poll; a lost final one
/// is seen at most the spread plus the budget plus one update interval late. A retrying (stalled) update drops the
/// bound. A lone update at 0% with no earlier jobs bounds nothing, and the silence limit decides.</item>
/// <item>With a prior (<see cref="JobPrior"/>: the last few finished jobs of the same operation seen by this client,
/// times from the submission), the first poll of a short job (its end no further than PollMaxInterval) is aimed just
/// past the predicted end when the earlier jobs agree on their length within the budget: one poll. Otherwise it comes
/// a little into the expected run (at most PollMaxInterval on). A running sighting then dates the run's start; with
/// the prior's rate the next poll goes just past the latest end the prior allows when that is precise enough (this
/// poll may be further off than PollMaxInterval), else to about 80% of the run, where two sightings give the job's own
/// rate. A job unlike its prior falls back on the plan above: a sighting that shows a faster run drops the prior, and
/// so does a second aim from it that finds the job unfinished.</item>
/// </list>
/// </remarks>
internal sealed class PollPlanner
{
    private static readonly TimeSpan MinBudget = TimeSpan.FromMilliseconds(300);
    private readonly MidjourneyOptions _options;
    private readonly TimeSpan _startAt;
    private readonly bool _usedPrior;
    private JobPrior? _prior;
    private TimeSpan? _priorAim;
    private int _priorMisses;
    private TimeSpan _lastQueuedAt;
    private TimeSpan? _lastUnfinishedAt;
    private (TimeSpan At, int Percentage)? _firstRunning;
    private (TimeSpan At, int Percentage)? _latestRunning;
    private (TimeSpan At, bool Pushed)? _finished;
    private TimeSpan _previousDelay;
    private bool _shortGapUsed;
    private TimeSpan? _lastHeardAt;
    private TimeSpan _longestGap;
    private TimeSpan? _expectedEnd;
    private TimeSpan? _latestEnd;
    private TimeSpan _next;

    /// <summary>Plans one wait.</summary>
    /// <param name="options">The poll settings.</param>
    /// <param name="quiet">Webhooks are expected.</param>
    /// <param name="startAt">The task's age when the wait starts (zero when its submission is not known: times are then from the start of the wait).</param>
    /// <param name="prior">What earlier jobs of the same operation took, if any.</param>
    public PollPlanner(MidjourneyOptions options, bool quiet, TimeSpan startAt = default, JobPrior? prior = null)
    {
        _options = options;
        Quiet = quiet;
        _startAt = startAt;
        _prior = prior;
        _usedPrior = prior is not null;
        _previousDelay = options.PollInitialDelay;
        _next = prior is { } p ? FirstFromPrior(p) : startAt + options.PollInitialDelay;
    }

    /// <summary>Webhooks are expected: polls wait for a silence longer than the updates' interval.</summary>
    public bool Quiet { get; private set; }

    /// <summary>Polls made so far.</summary>
    public int Polls { get; private set; }

    /// <summary>When (as the task's age) the next poll is due.</summary>
    public TimeSpan NextPollAt
    {
        get
        {
            if (!Quiet)
            {
                return _next;
            }

            var silence = _options.PollMaxInterval > _longestGap * 2 ? _options.PollMaxInterval : _longestGap * 2;
            var heard = (_lastHeardAt ?? _startAt) + silence;
            if (_latestEnd is { } end && end + Budget(end) + _longestGap < heard)
            {
                // The progress seen says the task ends by `end`, and its final update comes then, or up to one update
                // interval later (a provider that reports on a cadence): a silence past that plus the budget means
                // that update was lost.
                heard = end + Budget(end) + _longestGap;
            }

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

        Observe(at, state, percentage, pushed: false);
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
        Observe(at, state, percentage, pushed: true);
    }

    /// <summary>Records a failed poll (transient): the next one backs off.</summary>
    public void PollFailed(TimeSpan at)
    {
        Polls++;
        _previousDelay = Clamp(_previousDelay * 2);
        _next = at + _previousDelay;
    }

    /// <summary>
    /// What the finished job took (times from its submission: meaningful only when the wait knew it), or null when
    /// the sightings do not pin its end: a wait that aimed from a prior and saw the job finished knows only that it
    /// ended before that poll, and learning that would drift the memory later job by job.
    /// </summary>
    public JobSample? Measure()
    {
        if (_finished is not { } finished || _firstRunning is not { } first)
        {
            return null;
        }

        var lo = _lastUnfinishedAt ?? _startAt;
        TimeSpan end;
        if (finished.Pushed)
        {
            end = finished.At;
        }
        else if (_latestRunning is { } last && last.Percentage - first.Percentage >= 2)
        {
            // The line through two sightings (each p + 0.5 on average) meets 100% here.
            var perSecond = (last.Percentage - first.Percentage) / (last.At - first.At).TotalSeconds;
            var predicted = last.At + TimeSpan.FromSeconds((99.5 - last.Percentage) / perSecond);
            end = predicted < lo ? lo : predicted > finished.At ? finished.At : predicted;
        }
        else if (!_usedPrior)
        {
            // Planned without a prior: the finished poll was aimed from this job's own sightings.
            end = finished.At;
        }
        else
        {
            return null;
        }

        var run = (end - first.At) / (1 - ((first.Percentage + 0.5) / 100));
        var start = end - run;
        start = start < _lastQueuedAt ? _lastQueuedAt : start > first.At ? first.At : start;
        return end > start ? new JobSample(start, end - start) : null;
    }

    private void Observe(TimeSpan at, TaskState state, int? percentage, bool pushed)
    {
        if (state is TaskState.Finished or TaskState.Failed)
        {
            if (state is TaskState.Finished)
            {
                _finished ??= (at, pushed);
            }

            return;
        }

        _lastUnfinishedAt = at;
        if (!pushed && _priorAim is { } aim && at >= aim)
        {
            // An end aimed from the prior passed and the job is not finished: it is not like the earlier ones.
            _priorAim = null;
            if (++_priorMisses >= 2)
            {
                _prior = null;
            }
        }

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

        // Retrying or without a percentage: the progress stalls, so the end it promised no longer holds.
        _latestEnd = null;

        // Queued, retrying or without a percentage: back off by half.
        _previousDelay = Clamp(_previousDelay * 3 / 2);
        _next = at + _previousDelay;
    }

    /// <summary>
    /// The first poll from a prior: at the predicted end when that is no further than
    /// <see cref="MidjourneyOptions.PollMaxInterval"/> away and earlier jobs agree on it, else a little into the
    /// expected run (at most <see cref="MidjourneyOptions.PollMaxInterval"/> away).
    /// </summary>
    private TimeSpan FirstFromPrior(JobPrior prior)
    {
        var budget = Budget(prior.Total);
        var end = prior.Total + prior.TotalSpread + (budget / 10);
        if (prior.Confident && prior.TotalSpread * 2 <= budget * 0.8 && end - _startAt <= _options.PollMaxInterval + budget)
        {
            // A short job: the end lies within [total - spread, total + spread]; a poll just after sees it finished.
            _priorAim = end;
            return AtLeastMin(_startAt, end);
        }

        // A little into the run (past the queue times seen): that sighting dates the run's start.
        var into = prior.QueueSpread > prior.Run * 0.2 ? prior.QueueSpread : prior.Run * 0.2;
        var target = prior.Queue + (into < prior.Run / 2 ? into : prior.Run / 2);
        if (target - _startAt > _options.PollMaxInterval)
        {
            target = _startAt + _options.PollMaxInterval;
        }

        return AtLeastMin(_startAt, target);
    }

    /// <summary>
    /// One running sighting and a prior rate: aim at the end if the prior is precise enough, else sample later in the
    /// run; null when the sighting shows a faster run than the prior allows (it is then dropped).
    /// </summary>
    private TimeSpan? OneSightingFromPrior(TimeSpan now, int percentage, JobPrior prior)
    {
        // The true fraction is in [p, p+1) percent; the run takes the prior's time, give or take its spread.
        var left = 1 - (percentage / 100.0);
        var slowest = prior.Run + prior.RunSpread;
        var fastest = prior.Run > prior.RunSpread ? prior.Run - prior.RunSpread : TimeSpan.Zero;
        if (now - (fastest * (percentage / 100.0)) < _lastQueuedAt)
        {
            // At the prior's fastest rate the run would have begun while the task was still seen queued: it runs faster.
            _prior = null;
            _priorAim = null;
            return null;
        }

        var latest = now + (slowest * left);
        var earliest = now + (fastest * (left - 0.01));
        var budget = Budget(latest);
        if (prior.Confident)
        {
            // Earlier jobs that agree bound this one's end (for the silence of webhooks, see NextPollAt).
            _latestEnd = latest;
        }

        if (prior.Confident && latest - earliest <= budget * 0.8)
        {
            // May be further off than PollMaxInterval: aimed at a confident predicted end.
            var aim = latest + (budget / 10);
            _priorAim = aim;
            _expectedEnd = aim;
            return AtLeastMin(now, aim);
        }

        // Sample about 80% into the run (or half way through what is left): two sightings far apart give the rate.
        var ahead = prior.Run * Math.Max(0.8 - (percentage / 100.0), left / 2);
        return now + Clamp(ahead);
    }

    private TimeSpan PlanFromProgress(TimeSpan now)
    {
        var (firstAt, firstPct) = _firstRunning!.Value;
        var (lastAt, lastPct) = _latestRunning!.Value;
        if (lastPct - firstPct >= 2)
        {
            var (earliest, latest) = EndFromTwo(firstAt, firstPct, lastAt, lastPct);
            _latestEnd = latest;
            return AimOrSample(now, earliest, latest);
        }

        if (_prior is { } prior && OneSightingFromPrior(now, lastPct, prior) is { } fromPrior)
        {
            return fromPrior;
        }

        if (_expectedEnd is { } planned && now >= planned)
        {
            return Overdue(now);
        }

        // One sighting (or two less than 2% apart): the run began between the last queued sighting (or the start of
        // the wait) and the first running one, so its end is no later than `latest`; the end is no earlier than
        // EarliestEnd (a run no shorter than the queue before it).
        var soonest = EarliestEnd(lastAt, lastPct);
        if (lastPct >= 1)
        {
            var latestEnd = _lastQueuedAt + ((lastAt - _lastQueuedAt) * (100.0 / lastPct));
            _latestEnd = latestEnd;
            if (latestEnd - (soonest > now ? soonest : now) <= Budget(latestEnd))
            {
                _expectedEnd = latestEnd;
                return AtLeastMin(now, latestEnd);
            }

            soonest = soonest < latestEnd ? soonest : latestEnd;
        }

        // Sample again as late as the end cannot have come yet: two sightings that far apart give the rate.
        return now + Clamp(soonest - now);
    }

    /// <summary>The earliest and latest end consistent with two running sightings (true fractions in [p, p+1) percent at each).</summary>
    private static (TimeSpan Earliest, TimeSpan Latest) EndFromTwo(TimeSpan firstAt, int firstPct, TimeSpan lastAt, double lastPct)
    {
        var span = (lastAt - firstAt).TotalSeconds;
        var earliest = lastAt + TimeSpan.FromSeconds((99 - lastPct) * span / (lastPct - firstPct + 1));
        var latest = lastAt + TimeSpan.FromSeconds((100 - lastPct) * span / (lastPct - firstPct - 1));
        return (earliest, latest);
    }

    /// <summary>
    /// The earliest end a running sighting allows if the run takes at least as long as the queue before it (the
    /// task's age at its start): with the run begun at s and the fraction f &lt; (p+1)% done at t, the end
    /// s + (t - s) / f is smallest for the latest s the assumption allows, s = t / (1 + f), and is then 2t / (1 + f).
    /// </summary>
    private static TimeSpan EarliestEnd(TimeSpan at, int percentage) => at * (2 / (1 + ((percentage + 1) / 100.0)));

    /// <summary>
    /// From two sightings: the latest end when it is within the budget of the earliest (a poll there is late by at
    /// most latest - earliest), else one more sighting, placed so the next pair of sightings pins the end.
    /// </summary>
    private TimeSpan AimOrSample(TimeSpan now, TimeSpan earliest, TimeSpan latest)
    {
        var budget = Budget(earliest);
        if (latest - earliest <= budget || (_expectedEnd is { } planned && now >= planned))
        {
            _expectedEnd = latest;
            return latest > now ? AtLeastMin(now, latest) : Overdue(now);
        }

        var min = _options.PollMinInterval;
        var lastSample = earliest - min;
        if (lastSample < now + min)
        {
            // Too close to the end for a sample and an aimed poll PollMinInterval apart: a poll by the earliest end
            // plus the budget is on time if the task is finished by then; else aim at the latest end.
            if (latest - earliest <= min)
            {
                _expectedEnd = latest;
                return AtLeastMin(now, latest);
            }

            var soon = earliest + budget;
            return AtLeastMin(now, soon < latest ? soon : latest);
        }

        // The first time from which a sighting (at the rate seen so far) would pin the end within the budget, then
        // half way on to the last moment that still leaves PollMinInterval before the earliest end.
        var (firstAt, firstPct) = _firstRunning!.Value;
        var (lastAt, lastPct) = _latestRunning!.Value;
        var rate = (lastPct - firstPct) / (lastAt - firstAt).TotalSeconds;
        var from = lastSample;
        const int Steps = 32;
        for (var i = 0; i <= Steps; i++)
        {
            var t = now + min + ((lastSample - now - min) * i / Steps);
            var pct = Math.Floor(lastPct + (rate * (t - lastAt).TotalSeconds));
            if (pct - firstPct < 2)
            {
                continue;
            }

            var (e, l) = EndFromTwo(firstAt, firstPct, t, Math.Min(pct, 99));
            if (l - e <= budget * 0.7)
            {
                from = t;
                break;
            }
        }

        return from + ((lastSample - from) / 2);
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

    private static TimeSpan Budget(TimeSpan job) => job * 0.05 > MinBudget ? job * 0.05 : MinBudget;

    /// <summary>
    /// A poll aimed at the task's end (predicted or bounded): not before PollMinInterval after the last, except once per
    /// task, when it may come a quarter of that interval after it. Held to the whole interval, a sighting just under it
    /// before the end would push the poll past the lateness budget (a 3.5 s job seen at 80% at 3 s would be seen at 4 s,
    /// 0.5 s late). Once only, so a provider stuck near 100% is not polled in a tight loop.
    /// </summary>
    private TimeSpan AtLeastMin(TimeSpan now, TimeSpan at)
    {
        var min = _options.PollMinInterval;
        if (at - now >= min)
        {
            return at;
        }

        if (_shortGapUsed)
        {
            return now + min;
        }

        _shortGapUsed = true;
        return at - now < min / 4 ? now + (min / 4) : at;
    }

    private TimeSpan Clamp(TimeSpan value) =>
        value < _options.PollMinInterval ? _options.PollMinInterval : value > _options.PollMaxInterval ? _options.PollMaxInterval : value;
}
