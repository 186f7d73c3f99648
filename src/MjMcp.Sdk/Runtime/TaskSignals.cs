using System.Collections.Concurrent;

namespace MjMcp;

/// <summary>
/// Wakes waiters of a task when an update arrives by webhook, so they need not poll. The latest update of each
/// recent task is kept (at most <see cref="MaxRecent"/> tasks), so a waiter that starts after an update arrived — the
/// first webhook often comes before the submit's reply — or a second wait for a finished task starts from it.
/// </summary>
internal sealed class TaskSignals
{
    /// <summary>Tasks whose latest update is kept; beyond it the older half is dropped.</summary>
    internal const int MaxRecent = 4096;

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Waiter, byte>> _waiters = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (FetchResponse Update, long Sequence)> _recent = new(StringComparer.Ordinal);
    private long _sequence;

    /// <summary>Whether any update has arrived by webhook.</summary>
    public bool AnyPushed => Volatile.Read(ref _sequence) > 0;

    public Waiter Register(string taskId)
    {
        var waiter = new Waiter(this, taskId);
        _waiters.GetOrAdd(taskId, _ => new()).TryAdd(waiter, 0);
        if (_recent.TryGetValue(taskId, out var recent))
        {
            waiter.Push(recent.Update);
        }

        return waiter;
    }

    public void Publish(FetchResponse update)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        _recent[update.TaskId] = (update, sequence);
        if (_recent.Count > MaxRecent)
        {
            // Amortised: one pass per MaxRecent/2 updates drops the older half.
            foreach (var entry in _recent)
            {
                if (entry.Value.Sequence <= sequence - (MaxRecent / 2))
                {
                    _recent.TryRemove(entry);
                }
            }
        }

        if (_waiters.TryGetValue(update.TaskId, out var set))
        {
            foreach (var waiter in set.Keys)
            {
                waiter.Push(update);
            }
        }
    }

    private void Remove(Waiter waiter)
    {
        if (_waiters.TryGetValue(waiter.TaskId, out var set))
        {
            set.TryRemove(waiter, out _);
            if (set.IsEmpty)
            {
                _waiters.TryRemove(new KeyValuePair<string, ConcurrentDictionary<Waiter, byte>>(waiter.TaskId, set));
            }
        }
    }

    internal sealed class Waiter(TaskSignals owner, string taskId) : IDisposable
    {
        private readonly SemaphoreSlim _signal = new(0);
        private FetchResponse? _latest;

        public string TaskId { get; } = taskId;

        public void Push(FetchResponse update)
        {
            Volatile.Write(ref _latest, update);
            if (_signal.CurrentCount == 0)
            {
                _signal.Release();
            }
        }

        /// <summary>Waits for the delay or a pushed update; returns the update, or null when the delay passed.</summary>
        public async Task<FetchResponse?> WaitAsync(TimeSpan delay, TimeProvider time, CancellationToken cancellationToken)
        {
            var started = time.GetTimestamp();
            while (true)
            {
                if (Interlocked.Exchange(ref _latest, null) is { } ready)
                {
                    return ready;
                }

                cancellationToken.ThrowIfCancellationRequested();
                var left = delay - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    return null;
                }

                using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var delayTask = Task.Delay(left, time, linked.Token);
                var signalTask = _signal.WaitAsync(linked.Token);
                var first = await Task.WhenAny(delayTask, signalTask).ConfigureAwait(false);

                // Synchronous on purpose: the wait's continuation then runs on the thread that fired the timer, so a fake
                // clock (tests) sees the poll at the time it was due.
#pragma warning disable CA1849
                linked.Cancel();
#pragma warning restore CA1849
                cancellationToken.ThrowIfCancellationRequested();
                if (first == delayTask)
                {
                    return Interlocked.Exchange(ref _latest, null);
                }

                // Woken: the update is taken at the top. A permit left from an update already taken wakes with nothing; wait on.
            }
        }

        public void Dispose()
        {
            owner.Remove(this);
            _signal.Dispose();
        }
    }
}
