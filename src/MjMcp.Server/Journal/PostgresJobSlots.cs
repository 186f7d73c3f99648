using System.Globalization;
using Npgsql;

namespace MjMcp.Server;

/// <summary>
/// Provider job slots shared by every replica on one PostgreSQL journal, with PostgreSQL's own primitives: a slot is a
/// session-level advisory lock (one of <see cref="Limit"/> keys) held on a connection of its own, so at most Limit jobs
/// run across all replicas, and a replica that dies (kill -9, lost network) frees its slots with its connections. The
/// order is first come, first served: each caller queues as a row of <c>slot_queue</c> (an identity column orders it)
/// and only the first ones, as many as slots are free, try the locks. Rows of dead sessions (their backend is no longer
/// in pg_stat_activity) are removed by whoever looks next. A freed slot is announced on <see cref="PostgresTaskJournal.SlotChannel"/>;
/// waiters also look again every half second, in case a notice is lost.
/// <para>The cap is one for all: each replica writes its own to the journal's <c>shared_values</c> when it starts
/// (<see cref="LimitName"/>), and every replica reads the value there each time it looks for a slot. So the replica
/// started last sets the cap for every one of them (a rolling restart with a new MJMCP_MAX_CONCURRENT_JOBS changes it
/// everywhere), and replicas started with different values never disagree about it. Slots held above a lowered cap
/// are kept until their jobs end; no new one is taken until fewer than the cap are held.</para>
/// </summary>
public sealed class PostgresJobSlots : IJobSlotSource
{
    private const int SlotLockClass = 0x6D6A6D64; // "mjmd": the advisory-lock keys (SlotLockClass, 0..Limit-1)
    private static readonly TimeSpan Recheck = TimeSpan.FromMilliseconds(500);
    private readonly PostgresTaskJournal _journal;
    private readonly NpgsqlDataSource _sessions;
    private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _limit;

    /// <summary>The name of the shared cap in the journal's <c>shared_values</c>.</summary>
    public const string LimitName = "max_concurrent_jobs";

    /// <summary>Creates the slots of the journal's database.</summary>
    public PostgresJobSlots(PostgresTaskJournal journal, int limit)
    {
        ArgumentNullException.ThrowIfNull(journal);
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        _journal = journal;
        _limit = limit;
        journal.SetSharedValue(LimitName, limit.ToString(CultureInfo.InvariantCulture));

        // Unpooled: closing a slot's connection ends its session, and with it the advisory lock.
        _sessions = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(journal.ConnectionString) { Pooling = false }.ConnectionString);
        journal.SlotReleased += OnReleased;
    }

    /// <summary>The cap every replica on the journal holds to: the one written by the replica started last (as last read).</summary>
    public int Limit => Volatile.Read(ref _limit);

    /// <inheritdoc/>
    public async Task<IAsyncDisposable?> AcquireAsync(TimeSpan bound, Action<int>? waiting, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + (bound > TimeSpan.Zero ? bound : TimeSpan.FromMilliseconds(1));
        var connection = await _sessions.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var done = false;
        try
        {
            var seq = Convert.ToInt64(await ScalarAsync(connection, "INSERT INTO slot_queue (backend_pid, created_at) VALUES (pg_backend_pid(), @now) RETURNING seq", cancellationToken, ("@now", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture))).ConfigureAwait(false), CultureInfo.InvariantCulture);
            while (true)
            {
                var released = Volatile.Read(ref _released).Task;
                await ScalarAsync(connection, "DELETE FROM slot_queue WHERE backend_pid NOT IN (SELECT pid FROM pg_stat_activity)", cancellationToken).ConfigureAwait(false);
                await using (var command = new NpgsqlCommand("SELECT COUNT(*) FILTER (WHERE slot IS NULL AND seq < @me), COUNT(*) FILTER (WHERE slot IS NOT NULL), (SELECT value FROM shared_values WHERE name = @limit) FROM slot_queue", connection))
                {
                    command.Parameters.AddWithValue("me", seq);
                    command.Parameters.AddWithValue("limit", LimitName);
                    await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                    await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                    var ahead = (int)reader.GetInt64(0);
                    var holding = (int)reader.GetInt64(1);
                    if (!reader.IsDBNull(2) && int.TryParse(reader.GetString(2), NumberStyles.None, CultureInfo.InvariantCulture, out var shared) && shared > 0)
                    {
                        Volatile.Write(ref _limit, shared);
                    }

                    await reader.CloseAsync().ConfigureAwait(false);
                    var limit = Limit;
                    if (ahead < limit - holding)
                    {
                        // Fewer than the cap are held, so a key below it is free (keys above a lowered cap may still be held).
                        for (var key = 0; key < limit; key++)
                        {
                            if (await ScalarAsync(connection, "SELECT pg_try_advisory_lock(@c, @k)", cancellationToken, ("@c", SlotLockClass), ("@k", key)).ConfigureAwait(false) is true)
                            {
                                await ScalarAsync(connection, "UPDATE slot_queue SET slot = @k WHERE seq = @me", cancellationToken, ("@k", key), ("@me", seq)).ConfigureAwait(false);
                                done = true;
                                return new Slot(this, connection);
                            }
                        }
                    }

                    waiting?.Invoke(ahead);
                }

                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                {
                    return null;
                }

                try
                {
                    await released.WaitAsync(left < Recheck ? left : Recheck, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Look again (a notice may have been lost).
                }
            }
        }
        finally
        {
            if (!done)
            {
                // Closing the session drops the queue row's owner; the row is removed here, or by the next caller's clean-up.
                await CloseAsync(connection).ConfigureAwait(false);
            }
        }
    }

    private void OnReleased()
    {
        // Wakes every waiter that is waiting now (each looks again; only the first in line takes the slot).
        Interlocked.Exchange(ref _released, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    private static async Task CloseAsync(NpgsqlConnection connection)
    {
        try
        {
            await using (var command = new NpgsqlCommand("DELETE FROM slot_queue WHERE backend_pid = pg_backend_pid(); SELECT pg_advisory_unlock_all();", connection))
            {
                await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException)
        {
            // The session ends below anyway, and with it the lock; its row is cleaned up by the next caller.
        }

        await connection.DisposeAsync().ConfigureAwait(false);
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name.TrimStart('@'), value);
        }

        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _journal.SlotReleased -= OnReleased;
        await _sessions.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Slot(PostgresJobSlots owner, NpgsqlConnection connection) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                await CloseAsync(connection).ConfigureAwait(false);
                try
                {
                    owner._journal.Notify(PostgresTaskJournal.SlotChannel, string.Empty);
                }
                catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or IOException)
                {
                    // Waiters look again within half a second anyway.
                }

                owner.OnReleased();
            }
        }
    }
}
