using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace MjMcp.Server;

/// <summary>
/// The default journal: one SQLite file in the data directory (WAL, one transaction per change). Several server
/// processes on one machine may share it; a credit reservation takes SQLite's write lock (BEGIN IMMEDIATE).
/// </summary>
public sealed class SqliteTaskJournal : SqlTaskJournal
{
    /// <summary>
    /// Every pooled open of this process, one at a time. Microsoft.Data.Sqlite 10's pool can lend one native connection to
    /// two concurrent openers (it marks a connection active before it names its owner, and a second checkout reclaims it
    /// as leaked: dotnet/efcore#39008, fixed upstream by #39009). Both then share one handle, and the second BEGIN fails
    /// with "cannot start a transaction within a transaction" — seen here as journal errors under 100 concurrent
    /// workflows. A checkout takes microseconds, so serialising it costs nothing measurable.
    /// </summary>
    private static readonly Lock PoolCheckout = new();
    private readonly string _connectionString;

    /// <summary>Opens (and creates, or migrates) the journal at <paramref name="path"/>.</summary>
    /// <exception cref="JournalUnusableException">The file is damaged, not a database, or cannot be written.</exception>
    public SqliteTaskJournal(string path, TimeProvider? time = null)
        : base(time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Cache = SqliteCacheMode.Private, Pooling = true, DefaultTimeout = 5 }.ToString();
        DatabasePath = path;
        try
        {
            using (var connection = Open())
            {
                Run(connection, null, "PRAGMA journal_mode = WAL;");
            }

            Migrate();
            using var check = Open();
            if (Scalar(check, null, "PRAGMA quick_check;") is string verdict && verdict != "ok")
            {
                throw new JournalUnusableException(path, "its integrity check failed (" + verdict + ")");
            }
        }
        catch (SqliteException ex)
        {
            SqliteConnection.ClearAllPools();
            throw new JournalUnusableException(path, ex.Message, ex);
        }
    }

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <inheritdoc/>
    public override string Location => DatabasePath;

    /// <inheritdoc/>
    protected override string InsertionOrder => "rowid";

    /// <inheritdoc/>
    protected override IReadOnlyList<string> Migrations { get; } =
    [
        // 1: the journal as first shipped (IF NOT EXISTS: journals written before schema_version existed are at 1).
        """
        CREATE TABLE IF NOT EXISTS tasks (
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
        CREATE TABLE IF NOT EXISTS intents (
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

        // 2: who made each task and intent (an HTTP client's token name; NULL over stdio).
        """
        ALTER TABLE tasks ADD COLUMN owner TEXT;
        ALTER TABLE intents ADD COLUMN owner TEXT;
        CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(owner, created_at);
        """,
    ];

    /// <inheritdoc/>
    protected override DbConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        lock (PoolCheckout)
        {
            connection.Open();
        }

        // Per connection: wait for a second process's lock instead of failing, and in WAL mode sync at
        // checkpoints rather than on every commit (a kill -9 loses nothing; only a power cut may lose the last commits).
        Run(connection, null, "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;");
        return connection;
    }

    /// <inheritdoc/>
    protected override DbTransaction BeginSerializedWrite(DbConnection connection) => ((SqliteConnection)connection).BeginTransaction(deferred: false);

    /// <inheritdoc/>
    protected override void Dispose(bool disposing) => SqliteConnection.ClearAllPools();
}
