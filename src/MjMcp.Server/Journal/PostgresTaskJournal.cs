using System.Data.Common;
using Npgsql;

namespace MjMcp.Server;

/// <summary>
/// The journal in PostgreSQL (Npgsql), for replicas: several <c>mjmcp</c> processes on one database share their tasks,
/// intents, spend, provider job slots (<see cref="PostgresJobSlots"/>) and webhook wake-ups (LISTEN/NOTIFY on
/// <see cref="TaskChannel"/>). The SQL is <see cref="SqlTaskJournal"/>'s; this class opens connections from one
/// <see cref="NpgsqlDataSource"/>, serialises credit reservations and migrations across replicas with a
/// transaction-scoped advisory lock, and numbers rows with an identity column.
/// </summary>
public sealed class PostgresTaskJournal : SqlTaskJournal
{
    /// <summary>The NOTIFY channel a replica announces a webhook's task on (payload: the task id).</summary>
    public const string TaskChannel = "mjmcp_tasks";

    /// <summary>The NOTIFY channel a released provider job slot is announced on.</summary>
    public const string SlotChannel = "mjmcp_slots";

    // pg_advisory_xact_lock(classid, objid): one fixed key for "the journal's serialised writes" (spend, migrations).
    private const int LockClass = 0x6D6A6D63; // "mjmc"
    private const int SerializedWriteLock = 1;

    private readonly NpgsqlDataSource _dataSource;

    /// <summary>Opens (creating or migrating its tables) the journal in the database of <paramref name="connectionString"/>.</summary>
    /// <exception cref="JournalUnusableException">The database cannot be reached or used (one line naming the setting).</exception>
    public PostgresTaskJournal(string connectionString, TimeProvider? time = null)
        : base(time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException ex)
        {
            throw JournalUnusableException.Database("(unreadable connection string)", "the connection string cannot be read (" + ex.Message + ")", ex);
        }

        ConnectionString = builder.ConnectionString;
        Location = Describe(builder);
        if (builder.Timeout == 15)
        {
            builder.Timeout = 5; // an unreachable database at start is an error in seconds, not a hang
        }

        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        try
        {
            // schema_version is created under the lock too: two replicas starting at once would otherwise race on CREATE TABLE.
            using (var connection = Open())
            using (var transaction = BeginSerializedWrite(connection))
            {
                Run(connection, transaction, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
                transaction.Commit();
            }

            Migrate();
        }
        catch (Exception ex) when (ex is NpgsqlException or PostgresException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            _dataSource.Dispose();
            throw JournalUnusableException.Database(Location, ex.Message, ex);
        }
    }

    /// <summary>The connection string as given (with its password: never log or show it; <see cref="Location"/> has none).</summary>
    internal string ConnectionString { get; }

    /// <inheritdoc/>
    public override string Location { get; }

    /// <summary>The data source connections come from (job slots and the listener open their own long-lived ones).</summary>
    internal NpgsqlDataSource DataSource => _dataSource;

    /// <summary>Raised (on the listener's thread) when a replica applied a webhook's update of a task: the task id.</summary>
    public event Action<string>? TaskChanged;

    /// <summary>Raised when a replica released a provider job slot.</summary>
    public event Action? SlotReleased;

    /// <inheritdoc/>
    protected override string InsertionOrder => "seq";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> Migrations { get; } =
    [
        // 1: the tables of SQLite's first version (text timestamps, the same columns), plus an identity column for order.
        """
        CREATE TABLE IF NOT EXISTS tasks (
            seq         BIGINT GENERATED ALWAYS AS IDENTITY,
            task_id     TEXT PRIMARY KEY,
            operation   TEXT NOT NULL,
            stage       TEXT,
            result_kind TEXT,
            parent_id   TEXT,
            status      TEXT,
            state       TEXT NOT NULL,
            percentage  INTEGER,
            task_type   TEXT,
            result_json TEXT,
            error       TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS tasks_parent ON tasks(parent_id);
        CREATE INDEX IF NOT EXISTS tasks_stage ON tasks(stage, created_at);
        CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks(state);
        CREATE TABLE IF NOT EXISTS intents (
            seq         BIGINT GENERATED ALWAYS AS IDENTITY,
            intent_id   TEXT PRIMARY KEY,
            operation   TEXT NOT NULL,
            parent_id   TEXT,
            arguments   TEXT NOT NULL,
            state       TEXT NOT NULL,
            task_id     TEXT,
            error       TEXT,
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS intents_state ON intents(state, created_at);
        CREATE TABLE IF NOT EXISTS spend (
            intent_id   TEXT PRIMARY KEY,
            process_id  TEXT NOT NULL,
            day         TEXT NOT NULL,
            operation   TEXT NOT NULL,
            credits     INTEGER NOT NULL,
            created_at  TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS spend_day ON spend(day);
        CREATE INDEX IF NOT EXISTS spend_process ON spend(process_id);
        """,

        // 2: who made each task and intent (as SQLite's 2); the provider job slots' queue (replicas share max_concurrent_jobs);
        // values the replicas share (the webhook secret, so any replica's receiver accepts callbacks for any replica's submits).
        """
        ALTER TABLE tasks ADD COLUMN IF NOT EXISTS owner TEXT;
        ALTER TABLE intents ADD COLUMN IF NOT EXISTS owner TEXT;
        CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, created_at);
        CREATE TABLE IF NOT EXISTS slot_queue (
            seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            backend_pid INTEGER NOT NULL,
            slot        INTEGER,
            task_id     TEXT,
            created_at  TEXT NOT NULL
        );
        CREATE TABLE IF NOT EXISTS shared_values (
            name        TEXT PRIMARY KEY,
            value       TEXT NOT NULL
        );
        """,
    ];

    /// <summary>
    /// A value every replica on this database shares, made by the first that asks (<paramref name="create"/>) and read
    /// by the others: the webhook secret, so one replica's receiver accepts callbacks for another's submits.
    /// </summary>
    public string SharedValue(string name, Func<string> create)
    {
        ArgumentNullException.ThrowIfNull(create);
        using var connection = Open();
        Run(connection, null, "INSERT INTO shared_values (name, value) VALUES (@n, @v) ON CONFLICT (name) DO NOTHING", ("@n", name), ("@v", create()));
        return (string)Scalar(connection, null, "SELECT value FROM shared_values WHERE name = @n", ("@n", name))!;
    }

    /// <summary>Sets a value every replica on this database shares (the last writer wins).</summary>
    public void SetSharedValue(string name, string value)
    {
        using var connection = Open();
        Run(connection, null, "INSERT INTO shared_values (name, value) VALUES (@n, @v) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", ("@n", name), ("@v", value));
    }

    /// <summary>
    /// Listens on <see cref="TaskChannel"/> and <see cref="SlotChannel"/> on a connection of its own until
    /// <paramref name="stopping"/>, raising <see cref="TaskChanged"/> and <see cref="SlotReleased"/>; reconnects after a
    /// lost connection (and then raises <see cref="SlotReleased"/>, as a notice may have been missed).
    /// </summary>
    public async Task ListenAsync(Action<Exception>? onProblem, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(stopping).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == TaskChannel)
                    {
                        TaskChanged?.Invoke(e.Payload);
                    }
                    else if (e.Channel == SlotChannel)
                    {
                        SlotReleased?.Invoke();
                    }
                };
                await using (var command = new NpgsqlCommand($"LISTEN {TaskChannel}; LISTEN {SlotChannel};", connection))
                {
                    await command.ExecuteNonQueryAsync(stopping).ConfigureAwait(false);
                }

                Listening.TrySetResult();
                SlotReleased?.Invoke();
                while (!stopping.IsCancellationRequested)
                {
                    await connection.WaitAsync(stopping).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is NpgsqlException or PostgresException or IOException or TimeoutException or InvalidOperationException)
            {
                onProblem?.Invoke(ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Completes once the listener is subscribed (for tests and start-up ordering).</summary>
    internal TaskCompletionSource Listening { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Announces on <paramref name="channel"/> (every listening replica hears it).</summary>
    internal void Notify(string channel, string payload)
    {
        using var connection = Open();
        Run(connection, null, "SELECT pg_notify(@c, @p)", ("@c", channel), ("@p", payload));
    }

    /// <inheritdoc/>
    protected override void OnWebhookApplied(string taskId) => Notify(TaskChannel, taskId);

    /// <inheritdoc/>
    protected override DbConnection Open() => _dataSource.OpenConnection();

    /// <inheritdoc/>
    protected override DbTransaction BeginSerializedWrite(DbConnection connection)
    {
        var transaction = connection.BeginTransaction();
        Run(connection, transaction, "SELECT pg_advisory_xact_lock(@c, @o)", ("@c", LockClass), ("@o", SerializedWriteLock));
        return transaction;
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _dataSource.Dispose();
        }
    }

    /// <summary>The connection string without its password (and other secrets), for messages and <c>mjmcp settings</c>.</summary>
    public static string Describe(string connectionString)
    {
        try
        {
            return Describe(new NpgsqlConnectionStringBuilder(connectionString));
        }
        catch (ArgumentException)
        {
            return "(unreadable connection string)";
        }
    }

    private static string Describe(NpgsqlConnectionStringBuilder builder)
    {
        var shown = new NpgsqlConnectionStringBuilder(builder.ConnectionString) { Password = null, Passfile = null, SslPassword = null };
        return "PostgreSQL " + shown.ConnectionString;
    }

    /// <summary>Whether a journal setting is a PostgreSQL connection string (it names a Host) rather than unset.</summary>
    public static bool IsConnectionString(string? setting) =>
        setting is { Length: > 0 } && (setting.Contains("Host", StringComparison.OrdinalIgnoreCase) || setting.Contains("Server", StringComparison.OrdinalIgnoreCase)) && setting.Contains('=', StringComparison.Ordinal);
}
