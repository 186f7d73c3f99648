using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>Where provider job slots come from: this process (<see cref="LocalJobSlots"/>) or every replica on one PostgreSQL journal (<see cref="PostgresJobSlots"/>).</summary>
public interface IJobSlotSource : IAsyncDisposable
{
    /// <summary>How many provider jobs may run at once.</summary>
    int Limit { get; }

    /// <summary>
    /// Waits first come, first served for a slot, at most <paramref name="bound"/>; reports how many callers are ahead
    /// while waiting. Null when the bound passed (nothing is held). Disposing the slot frees it.
    /// </summary>
    Task<IAsyncDisposable?> AcquireAsync(TimeSpan bound, Action<int>? waiting, CancellationToken cancellationToken);
}

/// <summary>
/// max_concurrent_jobs (MJMCP_MAX_CONCURRENT_JOBS): at most <see cref="IJobSlotSource.Limit"/> provider jobs run at once.
/// A slot is taken before the submit and held until the task is finished or failed: a tool call that returns early
/// (its wait bound passed) hands its slot to a background wait here, because the job still runs at the provider. A call
/// that waits for a slot sees "waiting for a provider slot: N ahead" as progress; past its wait bound it gets
/// <c>server_busy</c> and nothing is sent.
/// </summary>
public sealed partial class JobSlots : IAsyncDisposable
{
    /// <summary>The longest a slot is held for one task the server no longer hears about (then it is freed).</summary>
    public static readonly TimeSpan MaxHold = TimeSpan.FromMinutes(30);

    private readonly IJobSlotSource _source;
    private readonly MjClient _client;
    private readonly ITaskJournal _journal;
    private readonly SpecRules _rules;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<Task, byte> _holds = new();

    /// <summary>Creates the gate over a slot source.</summary>
    public JobSlots(IJobSlotSource source, MjClient client, ITaskJournal journal, SpecRules rules, ILogger<JobSlots> logger)
    {
        _source = source;
        _client = client;
        _journal = journal;
        _rules = rules;
        _logger = logger;
    }

    /// <summary>How many provider jobs may run at once.</summary>
    public int Limit => _source.Limit;

    /// <summary>Slots held by background waits for tasks whose tool call returned (for tests).</summary>
    internal int HeldInBackground => _holds.Count;

    /// <summary>
    /// Runs a submit in a slot: waits for one (progress to the caller), runs <paramref name="submit"/>, and keeps the slot
    /// until the task it made is finished or failed.
    /// </summary>
    public async ValueTask<CallToolResult> RunAsync(string toolName, TimeSpan bound, RequestContext<CallToolRequestParams> request, Func<ValueTask<CallToolResult>> submit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(submit);
        var token = request.Params?.ProgressToken;
        var lastAhead = -1;
        IAsyncDisposable? slot;
        try
        {
            slot = await _source.AcquireAsync(bound, ahead =>
            {
                if (token is { } t && ahead != lastAhead)
                {
                    lastAhead = ahead;
                    _ = request.Server.NotifyProgressAsync(t, new ProgressNotificationValue { Progress = 0, Total = 100, Message = $"waiting for a provider slot: {ahead} ahead" }, cancellationToken: CancellationToken.None);
                }
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or TimeoutException)
        {
            return ToolRuntime.Refuse(RefusalCodes.JournalUnavailable, $"The provider job slots (max_concurrent_jobs) live in the task journal ({_journal.Location}), which cannot be reached ({ex.Message}), so {toolName} was not sent: nothing was spent. Call again once the journal is back.", null);
        }

        if (slot is null)
        {
            return ToolRuntime.Refuse(RefusalCodes.ServerBusy, $"{Limit} provider jobs are already running (max_concurrent_jobs, MJMCP_MAX_CONCURRENT_JOBS, counted across every replica on the journal) and no slot came free within this call's wait; nothing was sent. Call {toolName} again in a moment.", null);
        }

        CallToolResult? result = null;
        try
        {
            result = await submit().ConfigureAwait(false);
            return result;
        }
        finally
        {
            HoldUntilFinal(slot, TaskIdOf(result));
        }
    }

    /// <summary>Frees the slot now when the task is final (or none was made); otherwise once a background wait sees it final.</summary>
    private void HoldUntilFinal(IAsyncDisposable slot, string? taskId)
    {
        bool final;
        try
        {
            final = taskId is null || _stopping.IsCancellationRequested || _journal.Get(taskId) is null or { State: TaskState.Finished or TaskState.Failed };
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException)
        {
            // The journal cannot say: the background wait below asks the provider.
            final = false;
        }

        if (final || taskId is null)
        {
            _ = slot.DisposeAsync().AsTask();
            return;
        }

        var hold = Task.Run(async () =>
        {
            try
            {
                var response = await _client.WaitAsync(taskId, null, MaxHold, _stopping.Token).ConfigureAwait(false);
                _journal.ApplyFetch(response, _rules);
            }
            catch (MjTaskFailedException ex)
            {
                _journal.MarkFailed(taskId, ex.Reason ?? "failed");
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
            }
            catch (Exception ex) when (ex is MjException or System.Data.Common.DbException or IOException)
            {
                Log.HoldEnded(_logger, taskId, ex.Message);
            }
            finally
            {
                await slot.DisposeAsync().ConfigureAwait(false);
            }
        });
        _holds.TryAdd(hold, 0);
        _ = hold.ContinueWith(t => _holds.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static string? TaskIdOf(CallToolResult? result) =>
        result?.StructuredContent is { ValueKind: JsonValueKind.Object } structured && structured.TryGetProperty("task_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_holds.Keys).WaitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        await _source.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Stopped holding the provider slot of task {TaskId}: {Problem}")]
        public static partial void HoldEnded(ILogger logger, string taskId, string problem);
    }
}

/// <summary>Provider job slots of this process only (the SQLite journal: no replicas to share them with), first come first served.</summary>
public sealed class LocalJobSlots : IJobSlotSource
{
    private readonly ConcurrencyLimiter _limiter;

    /// <summary>Creates <paramref name="limit"/> slots.</summary>
    public LocalJobSlots(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        Limit = limit;
        _limiter = new ConcurrencyLimiter(new ConcurrencyLimiterOptions { PermitLimit = limit, QueueLimit = 100_000, QueueProcessingOrder = QueueProcessingOrder.OldestFirst });
    }

    /// <inheritdoc/>
    public int Limit { get; }

    /// <inheritdoc/>
    public async Task<IAsyncDisposable?> AcquireAsync(TimeSpan bound, Action<int>? waiting, CancellationToken cancellationToken)
    {
        var fast = _limiter.AttemptAcquire(1);
        if (fast.IsAcquired)
        {
            return new Lease(fast);
        }

        fast.Dispose();
        waiting?.Invoke((int)(_limiter.GetStatistics()?.CurrentQueuedCount ?? 0));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound > TimeSpan.Zero ? bound : TimeSpan.FromMilliseconds(1));
        try
        {
            var lease = await _limiter.AcquireAsync(1, timeout.Token).ConfigureAwait(false);
            if (lease.IsAcquired)
            {
                return new Lease(lease);
            }

            lease.Dispose();
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _limiter.DisposeAsync();

    private sealed class Lease(RateLimitLease lease) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            lease.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
