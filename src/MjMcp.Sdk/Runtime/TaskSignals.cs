using System.Collections.Concurrent;

namespace MjMcp;

/// <summary>Wakes waiters of a task when an update arrives by webhook, so they need not poll.</summary>
internal sealed class TaskSignals
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Waiter, byte>> _waiters = new(StringComparer.Ordinal);

    public Waiter Register(string taskId)
    {
        var waiter = new Waiter(this, taskId);
        _waiters.GetOrAdd(taskId, _ => new()).TryAdd(waiter, 0);
        return waiter;
    }

    public void Publish(FetchResponse update)
    {
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
            if (Interlocked.Exchange(ref _latest, null) is { } ready)
            {
                return ready;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var delayTask = Task.Delay(delay, time, linked.Token);
            var signalTask = _signal.WaitAsync(linked.Token);
            var first = await Task.WhenAny(delayTask, signalTask).ConfigureAwait(false);
            await linked.CancelAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return first == signalTask ? Interlocked.Exchange(ref _latest, null) : null;
        }

        public void Dispose()
        {
            owner.Remove(this);
            _signal.Dispose();
        }
    }
}
