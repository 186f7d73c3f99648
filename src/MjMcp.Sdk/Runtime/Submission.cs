using System.Runtime.CompilerServices;
using MjMcp.Rules;

namespace MjMcp;

/// <summary>Where a task stands while it is made.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="State">Its state.</param>
/// <param name="Status">The provider's status string.</param>
/// <param name="Percentage">0-100 when the provider says.</param>
public sealed record TaskProgress(string TaskId, TaskState State, string? Status, int? Percentage);

/// <summary>
/// A submission in flight. <c>await</c> it for the <see cref="PendingTask{TResult}"/> (the provider accepted
/// the request and gave a task id), or call <see cref="WaitAsync(IProgress{TaskProgress}?, CancellationToken)"/>
/// for the finished <typeparamref name="TResult"/>.
/// </summary>
/// <typeparam name="TResult">The stage or result the operation produces.</typeparam>
public sealed class Submission<TResult>
    where TResult : class
{
    private readonly Task<PendingTask<TResult>> _submitted;

    internal Submission(Task<PendingTask<TResult>> submitted) => _submitted = submitted;

    /// <summary>Awaits the provider's acceptance.</summary>
    public TaskAwaiter<PendingTask<TResult>> GetAwaiter() => _submitted.GetAwaiter();

    /// <summary>Awaits the provider's acceptance without capturing the context.</summary>
    public ConfiguredTaskAwaitable<PendingTask<TResult>> ConfigureAwait(bool continueOnCapturedContext) => _submitted.ConfigureAwait(continueOnCapturedContext);

    /// <summary>The submission as a task.</summary>
    public Task<PendingTask<TResult>> AsTask() => _submitted;

    /// <summary>Submits, then waits for the finished result.</summary>
    public Task<TResult> WaitAsync(CancellationToken cancellationToken) => WaitAsync(null, null, cancellationToken);

    /// <summary>Submits, then waits for the finished result, reporting progress.</summary>
    public Task<TResult> WaitAsync(IProgress<TaskProgress>? progress = null, CancellationToken cancellationToken = default) =>
        WaitAsync(progress, null, cancellationToken);

    /// <summary>Submits, then waits at most <paramref name="timeout"/> for the finished result.</summary>
    public async Task<TResult> WaitAsync(IProgress<TaskProgress>? progress, TimeSpan? timeout, CancellationToken cancellationToken = default)
    {
        var pending = await _submitted.ConfigureAwait(false);
        return await pending.WaitAsync(progress, timeout, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>A task the provider accepted and is making.</summary>
/// <typeparam name="TResult">The stage or result it will produce.</typeparam>
public sealed class PendingTask<TResult>
    where TResult : class
{
    private readonly MjClient _client;
    private readonly Func<FetchResponse, TResult> _factory;

    internal PendingTask(MjClient client, string taskId, OperationRule operation, string? parentTaskId, Func<FetchResponse, TResult> factory)
    {
        _client = client;
        _factory = factory;
        TaskId = taskId;
        Operation = operation;
        ParentTaskId = parentTaskId;
    }

    /// <summary>The provider's task id.</summary>
    public string TaskId { get; }

    /// <summary>The operation that made it.</summary>
    public OperationRule Operation { get; }

    /// <summary>The parent task, if the operation has one.</summary>
    public string? ParentTaskId { get; }

    /// <summary>Waits for the finished result.</summary>
    public Task<TResult> WaitAsync(CancellationToken cancellationToken) => WaitAsync(null, null, cancellationToken);

    /// <summary>
    /// Waits for the finished result: polls /fetch adaptively (or wakes on a webhook), reports progress,
    /// honours cancellation and <paramref name="timeout"/> (default <see cref="MidjourneyOptions.DefaultWaitTimeout"/>).
    /// Throws <see cref="MjTaskFailedException"/> when the task fails and <see cref="MjWaitTimeoutException"/> at the deadline.
    /// </summary>
    public async Task<TResult> WaitAsync(IProgress<TaskProgress>? progress = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        var response = await _client.WaitForFinishedAsync(TaskId, progress, timeout, cancellationToken).ConfigureAwait(false);
        return _factory(response);
    }

    /// <summary>Progress updates until the task finishes (the last one is Finished); throws like <see cref="WaitAsync(IProgress{TaskProgress}?, TimeSpan?, CancellationToken)"/>.</summary>
    public async IAsyncEnumerable<TaskProgress> WatchAsync(TimeSpan? timeout = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var channel = System.Threading.Channels.Channel.CreateUnbounded<TaskProgress>(new() { SingleReader = true, SingleWriter = true });
        var wait = Task.Run(
            async () =>
            {
                try
                {
                    await _client.WaitForFinishedAsync(TaskId, new SyncProgress(p => channel.Writer.TryWrite(p)), timeout, cancellationToken).ConfigureAwait(false);
                    channel.Writer.TryComplete();
                }
#pragma warning disable CA1031 // Handed to the reader, which rethrows it.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    channel.Writer.TryComplete(ex);
                }
            },
            CancellationToken.None);

        await foreach (var item in channel.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
        {
            yield return item;
        }

        await wait.ConfigureAwait(false);
    }

    /// <summary>An IProgress that reports synchronously (Progress&lt;T&gt; posts to a context and may reorder).</summary>
    private sealed class SyncProgress(Action<TaskProgress> report) : IProgress<TaskProgress>
    {
        public void Report(TaskProgress value) => report(value);
    }
}
