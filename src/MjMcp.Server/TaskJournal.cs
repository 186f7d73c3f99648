using System.Globalization;
using Microsoft.Data.Sqlite;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>One task as the journal knows it.</summary>
public sealed record TaskRecord(
    string TaskId,
    string Operation,
    string? Stage,
    string? ResultKind,
    string? ParentTaskId,
    string? Status,
    TaskState State,
    int? Percentage,
    string? TaskType,
    string? ResultJson,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>What became of a submit the journal wrote down before sending it.</summary>
public enum IntentState
{
    /// <summary>Written ahead; the request is being sent (or the process died while sending it).</summary>
    Sending,

    /// <summary>The provider answered with a task_id: the task is in the journal.</summary>
    Accepted,

    /// <summary>The outcome is unknown (connection lost after sending, 5xx, time-out, crash): the provider may have created a task.</summary>
    Uncertain,

    /// <summary>Nothing reached the provider, or it refused the request: no task, no credit; safe to retry.</summary>
    NotSent,
}

/// <summary>A submit written ahead of its request: what was asked, and what became of it.</summary>
public sealed record SubmitIntent(
    string IntentId,
    string Operation,
    string? ParentTaskId,
    string Arguments,
    IntentState State,
    string? TaskId,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>
/// Every task this server submitted or learned about, in SQLite (WAL, one transaction per change), so a
/// restarted server resumes its tasks and checks parents without asking the provider. Secrets are never
/// stored: only task ids, stages, statuses and the provider's finished /fetch reply.
/// </summary>
public sealed class TaskJournal : IDisposable
{
    private readonly string _connectionString;
    private readonly TimeProvider _time;

    /// <summary>Opens (and creates) the journal at <paramref name="path"/>.</summary>
    public TaskJournal(string path, TimeProvider? time = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _time = time ?? TimeProvider.System;
        _connectionString = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Cache = SqliteCacheMode.Private, Pooling = true, DefaultTimeout = 5 }.ToString();
        DatabasePath = path;
        try
        {
            Initialize();
        }
        catch (SqliteException ex)
        {
            SqliteConnection.ClearAllPools();
            throw new JournalUnusableException(path, ex.Message, ex);
        }
    }

    private void Initialize()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
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
            """;
        command.ExecuteNonQuery();
        using var check = connection.CreateCommand();
        check.CommandText = "PRAGMA quick_check;";
        if (check.ExecuteScalar() is string verdict && verdict != "ok")
        {
            throw new JournalUnusableException(DatabasePath, "its integrity check failed (" + verdict + ")");
        }
    }

    /// <summary>How long a write-ahead intent may stay <see cref="IntentState.Sending"/> before it counts as uncertain (the sender died).</summary>
    public static TimeSpan SendingGrace { get; } = TimeSpan.FromMinutes(2);

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <summary>
    /// Writes a submit down BEFORE its request is sent (write-ahead): the operation, the parent and the arguments
    /// (the caller leaves secrets out). Returns the intent id, which the webhook URL of the submit carries.
    /// </summary>
    public string BeginIntent(OperationRule operation, string? parentTaskId, string argumentsJson)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var id = "i" + Guid.NewGuid().ToString("N")[..20];
        var now = Now();
        Execute(
            "INSERT INTO intents (intent_id, operation, parent_id, arguments, state, created_at, updated_at) VALUES ($id, $op, $parent, $args, 'Sending', $now, $now);",
            ("$id", id),
            ("$op", operation.Name),
            ("$parent", parentTaskId),
            ("$args", argumentsJson),
            ("$now", now));
        return id;
    }

    /// <summary>
    /// The provider accepted the intent's submit as <paramref name="taskId"/>: one transaction completes the intent and
    /// records the task (a webhook may have recorded it first; then the parent is added).
    /// </summary>
    public void AcceptIntent(string intentId, string taskId, OperationRule operation, string? parentTaskId) => AcceptIntent(intentId, taskId, operation, parentTaskId, null);

    /// <summary>How many intents were completed by a webhook alone (orphans whose submit's answer never came back).</summary>
    public int RecoveredIntents() => Read("SELECT intent_id FROM intents WHERE state = 'Accepted' AND error = $note", [("$note", RecoveredNote)], text => text("intent_id")).Count;

    private const string RecoveredNote = "recovered by its webhook";

    private void AcceptIntent(string intentId, string taskId, OperationRule operation, string? parentTaskId, string? note)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var now = Now();
        ExecuteMany(
            [
                ("UPDATE intents SET state = 'Accepted', task_id = $task, error = $note, updated_at = $now WHERE intent_id = $intent AND ($note IS NULL OR state <> 'Accepted');", [("$intent", intentId), ("$task", taskId), ("$note", note), ("$now", now)]),
                (InsertSubmittedSql, SubmittedParameters(taskId, operation, parentTaskId, now)),
            ]);
    }

    /// <summary>The submit's outcome is unknown: the provider may have created a task. Kept and listed, never resent.</summary>
    public void MarkIntentUncertain(string intentId, string reason) =>
        Execute("UPDATE intents SET state = 'Uncertain', error = $error, updated_at = $now WHERE intent_id = $id AND state = 'Sending';", ("$id", intentId), ("$error", reason), ("$now", Now()));

    /// <summary>Nothing reached the provider (or it refused): the intent is closed; a retry is safe.</summary>
    public void MarkIntentNotSent(string intentId, string reason) =>
        Execute("UPDATE intents SET state = 'NotSent', error = $error, updated_at = $now WHERE intent_id = $id AND state = 'Sending';", ("$id", intentId), ("$error", reason), ("$now", Now()));

    /// <summary>The intent, or null.</summary>
    public SubmitIntent? GetIntent(string intentId) => QueryIntents("SELECT * FROM intents WHERE intent_id = $id", ("$id", intentId)).FirstOrDefault();

    /// <summary>
    /// The submits whose outcome is unknown, newest first: marked uncertain, or still "sending" past
    /// <see cref="SendingGrace"/> (the process died while sending). The provider may have created a task for each.
    /// </summary>
    public IReadOnlyList<SubmitIntent> UncertainIntents(int limit = 200)
    {
        var cutoff = (_time.GetUtcNow() - SendingGrace).ToString("O", CultureInfo.InvariantCulture);
        return QueryIntents(
            "SELECT * FROM intents WHERE state = 'Uncertain' OR (state = 'Sending' AND created_at < $cutoff) ORDER BY created_at DESC LIMIT $limit",
            ("$cutoff", cutoff),
            ("$limit", limit))
            .Select(i => i with { State = IntentState.Uncertain })
            .ToList();
    }

    /// <summary>
    /// Applies an update that arrived by webhook. An update whose URL carried an intent id that is not yet accepted
    /// recovers that intent: the task the provider made is recorded with the intent's operation and parent. Otherwise
    /// only tasks the journal already knows are updated: an update for an unknown task is ignored (returns false).
    /// </summary>
    public bool ApplyWebhook(FetchResponse update, string? intentId, SpecRules rules)
    {
        ArgumentNullException.ThrowIfNull(update);
        ArgumentNullException.ThrowIfNull(rules);
        if (string.IsNullOrEmpty(update.TaskId))
        {
            return false;
        }

        if (intentId is not null && GetIntent(intentId) is { } intent && intent.State != IntentState.Accepted && rules.FindOperation(intent.Operation) is { } operation)
        {
            AcceptIntent(intent.IntentId, update.TaskId, operation, intent.ParentTaskId, RecoveredNote);
        }
        else if (Get(update.TaskId) is null)
        {
            return false;
        }

        ApplyFetch(update, rules);
        return true;
    }

    /// <summary>Records a submission the provider accepted (a webhook may have told us about it first: then the parent is added).</summary>
    public void RecordSubmitted(string taskId, OperationRule operation, string? parentTaskId)
    {
        ArgumentNullException.ThrowIfNull(operation);
        Execute(InsertSubmittedSql, SubmittedParameters(taskId, operation, parentTaskId, Now()));
    }

    private const string InsertSubmittedSql = """
        INSERT INTO tasks (task_id, operation, stage, result_kind, parent_id, status, state, percentage, created_at, updated_at)
        VALUES ($id, $op, $stage, $kind, $parent, 'submitted', 'Pending', 0, $now, $now)
        ON CONFLICT(task_id) DO UPDATE SET
            parent_id = COALESCE(tasks.parent_id, excluded.parent_id),
            operation = CASE WHEN tasks.operation = '' THEN excluded.operation ELSE tasks.operation END,
            stage = COALESCE(tasks.stage, excluded.stage),
            result_kind = COALESCE(tasks.result_kind, excluded.result_kind);
        """;

    private static (string Name, object? Value)[] SubmittedParameters(string taskId, OperationRule operation, string? parentTaskId, string now) =>
    [
        ("$id", taskId),
        ("$op", operation.Name),
        ("$stage", operation.ProducesStage ? operation.Produces : null),
        ("$kind", operation.ProducesStage ? null : operation.Produces),
        ("$parent", parentTaskId),
        ("$now", now),
    ];

    /// <summary>Applies a /fetch reply (from polling or a webhook). Idempotent; a finished or failed task is final (a later update changes nothing).</summary>
    public void ApplyFetch(FetchResponse response, SpecRules rules)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(rules);
        var operation = rules.OperationOfTaskType(response.TaskType);
        var state = rules.StateOf(response.Status);
        var now = Now();
        Execute(
            """
            INSERT INTO tasks (task_id, operation, stage, result_kind, status, state, percentage, task_type, result_json, error, created_at, updated_at)
            VALUES ($id, $op, $stage, $kind, $status, $state, $pct, $type, $json, $error, $now, $now)
            ON CONFLICT(task_id) DO UPDATE SET
                operation = CASE WHEN excluded.operation = '' THEN tasks.operation ELSE excluded.operation END,
                stage = COALESCE(excluded.stage, tasks.stage),
                result_kind = COALESCE(excluded.result_kind, tasks.result_kind),
                status = excluded.status,
                state = excluded.state,
                percentage = excluded.percentage,
                task_type = COALESCE(excluded.task_type, tasks.task_type),
                result_json = COALESCE(excluded.result_json, tasks.result_json),
                error = COALESCE(excluded.error, tasks.error),
                updated_at = excluded.updated_at
            WHERE tasks.state NOT IN ('Finished', 'Failed');
            """,
            ("$id", response.TaskId),
            ("$op", operation?.Name ?? string.Empty),
            ("$stage", operation is { ProducesStage: true } ? operation.Produces : null),
            ("$kind", operation is { ProducesStage: false } ? operation.Produces : null),
            ("$status", response.Status),
            ("$state", state.ToString()),
            ("$pct", state == TaskState.Finished ? 100 : response.Percentage),
            ("$type", string.IsNullOrEmpty(response.TaskType) ? null : response.TaskType),
            ("$json", state == TaskState.Finished ? response.Raw.GetRawText() : null),
            ("$error", state == TaskState.Failed ? response.Error ?? response.Message ?? "failed" : null),
            ("$now", now));
    }

    /// <summary>Records progress of an unfinished task (finished and failed states come from <see cref="ApplyFetch"/> and <see cref="MarkFailed"/>).</summary>
    public void UpdateProgress(TaskProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (progress.State is TaskState.Finished or TaskState.Failed)
        {
            return;
        }

        Execute(
            "UPDATE tasks SET status = $status, state = $state, percentage = $pct, updated_at = $now WHERE task_id = $id AND state NOT IN ('Finished', 'Failed');",
            ("$id", progress.TaskId),
            ("$status", progress.Status),
            ("$state", progress.State.ToString()),
            ("$pct", progress.Percentage),
            ("$now", Now()));
    }

    /// <summary>Records that a task failed, with the provider's reason.</summary>
    public void MarkFailed(string taskId, string reason) =>
        Execute(
            "UPDATE tasks SET state = 'Failed', status = COALESCE(status, 'failed'), error = $error, updated_at = $now WHERE task_id = $id AND state <> 'Finished';",
            ("$id", taskId),
            ("$error", reason),
            ("$now", Now()));

    /// <summary>The task, or null when the journal does not know it.</summary>
    public TaskRecord? Get(string taskId) => Query("SELECT * FROM tasks WHERE task_id = $id", ("$id", taskId)).FirstOrDefault();

    /// <summary>Tasks newest first, optionally of one stage (or result kind).</summary>
    public IReadOnlyList<TaskRecord> List(string? stage, int limit) =>
        stage is null
            ? Query("SELECT * FROM tasks ORDER BY created_at DESC, rowid DESC LIMIT $limit", ("$limit", limit))
            : Query("SELECT * FROM tasks WHERE stage = $stage OR result_kind = $stage ORDER BY created_at DESC, rowid DESC LIMIT $limit", ("$stage", stage), ("$limit", limit));

    /// <summary>The tasks made from <paramref name="taskId"/>.</summary>
    public IReadOnlyList<TaskRecord> Children(string taskId) => Query("SELECT * FROM tasks WHERE parent_id = $id ORDER BY created_at, rowid", ("$id", taskId));

    /// <summary>The unfinished tasks (to resume after a restart).</summary>
    public IReadOnlyList<TaskRecord> Unfinished() => Query("SELECT * FROM tasks WHERE state NOT IN ('Finished', 'Failed') ORDER BY created_at");

    /// <summary>The parent chain of a task, nearest first.</summary>
    public IReadOnlyList<TaskRecord> Ancestors(string taskId)
    {
        var chain = new List<TaskRecord>();
        var current = Get(taskId);
        while (current?.ParentTaskId is { } parentId && chain.Count < 64 && Get(parentId) is { } parent)
        {
            chain.Add(parent);
            current = parent;
        }

        return chain;
    }

    // Spent credits are the spend rows of intents that may have reached the provider: a NotSent intent (nothing sent, or
    // refused by the provider) releases its row; Sending, Uncertain and Accepted keep it.
    private const string SpentSql = "SELECT COALESCE(SUM(s.credits), 0) AS spent FROM spend s JOIN intents i ON i.intent_id = s.intent_id WHERE i.state <> 'NotSent' AND ";

    /// <summary>
    /// Reserves <paramref name="credits"/> for the intent's submit, atomically against every other reservation (one
    /// IMMEDIATE transaction: two calls, even from two servers on this journal, cannot both pass the last credits).
    /// Refused when the process's spend would exceed <paramref name="processBudget"/> or the UTC day's would exceed
    /// <paramref name="dayBudget"/> (null: no limit); then the intent is closed as not sent and nothing is reserved.
    /// The reservation is released when the intent is marked not sent (<see cref="MarkIntentNotSent"/>).
    /// </summary>
    public SpendDecision ReserveSpend(string intentId, string processId, string operation, int credits, long? processBudget, long? dayBudget)
    {
        var day = Day();
        using var connection = Open();
        using var transaction = connection.BeginTransaction(deferred: false);
        SqliteCommand Command(string sql, params (string Name, object Value)[] parameters)
        {
            var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value);
            }

            return command;
        }

        long Scalar(string sql, params (string Name, object Value)[] parameters)
        {
            using var command = Command(sql, parameters);
            return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        void Run(string sql, params (string Name, object Value)[] parameters)
        {
            using var command = Command(sql, parameters);
            command.ExecuteNonQuery();
        }

        var processSpent = Scalar(SpentSql + "s.process_id = $p", ("$p", processId));
        var daySpent = Scalar(SpentSql + "s.day = $d", ("$d", day));
        var decision = new SpendDecision(processSpent, daySpent, day, null);
        if (processBudget is { } pb && processSpent + credits > pb)
        {
            decision = decision with { ExceededBudget = SpendBudget.Process };
        }
        else if (dayBudget is { } db && daySpent + credits > db)
        {
            decision = decision with { ExceededBudget = SpendBudget.Day };
        }

        if (decision.ExceededBudget is not null)
        {
            Run("UPDATE intents SET state = 'NotSent', error = 'over the credit budget', updated_at = $now WHERE intent_id = $id AND state = 'Sending';", ("$id", intentId), ("$now", Now()));
        }
        else
        {
            Run(
                "INSERT INTO spend (intent_id, process_id, day, operation, credits, created_at) VALUES ($id, $p, $d, $op, $c, $now) ON CONFLICT(intent_id) DO NOTHING;",
                ("$id", intentId), ("$p", processId), ("$d", day), ("$op", operation), ("$c", credits), ("$now", Now()));
            decision = decision with { ProcessSpent = processSpent + credits, DaySpent = daySpent + credits };
        }

        transaction.Commit();
        return decision;
    }

    /// <summary>The credits spent (reserved and not released) by <paramref name="processId"/>, and by everyone on this journal this UTC day.</summary>
    public (long ProcessSpent, long DaySpent, string Day) Spent(string processId)
    {
        var day = Day();
        var process = Read(SpentSql + "s.process_id = $p", [("$p", processId)], text => long.Parse(text("spent") ?? "0", CultureInfo.InvariantCulture)).Single();
        var today = Read(SpentSql + "s.day = $d", [("$d", day)], text => long.Parse(text("spent") ?? "0", CultureInfo.InvariantCulture)).Single();
        return (process, today, day);
    }

    /// <summary>The current UTC day as the spend table records it (yyyy-MM-dd).</summary>
    public string Day() => _time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public void Dispose() => SqliteConnection.ClearAllPools();

    private string Now() => _time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        // Per connection: wait for a second process's lock instead of failing, and in WAL mode sync at
        // checkpoints rather than on every commit (a kill -9 loses nothing; only a power cut may lose the last commits).
        pragma.CommandText = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;";
        pragma.ExecuteNonQuery();
        return connection;
    }

    private void Execute(string sql, params (string Name, object? Value)[] parameters) => ExecuteMany([(sql, parameters)]);

    /// <summary>Runs the statements in one transaction: all or nothing.</summary>
    private void ExecuteMany(IReadOnlyList<(string Sql, (string Name, object? Value)[] Parameters)> statements)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var (sql, parameters) in statements)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = sql;
            foreach (var (name, value) in parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }

            command.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    private List<SubmitIntent> QueryIntents(string sql, params (string Name, object? Value)[] parameters) =>
        Read(sql, parameters, Text => new SubmitIntent(
            Text("intent_id")!,
            Text("operation") ?? string.Empty,
            Text("parent_id"),
            Text("arguments") ?? "{}",
            Enum.TryParse<IntentState>(Text("state"), out var state) ? state : IntentState.Uncertain,
            Text("task_id"),
            Text("error"),
            DateTimeOffset.Parse(Text("created_at")!, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(Text("updated_at")!, CultureInfo.InvariantCulture)));

    private List<TaskRecord> Query(string sql, params (string Name, object? Value)[] parameters) =>
        Read(sql, parameters, Text => new TaskRecord(
            Text("task_id")!,
            Text("operation") ?? string.Empty,
            Text("stage"),
            Text("result_kind"),
            Text("parent_id"),
            Text("status"),
            Enum.TryParse<TaskState>(Text("state"), out var state) ? state : TaskState.Unknown,
            int.TryParse(Text("percentage"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var pct) ? pct : null,
            Text("task_type"),
            Text("result_json"),
            Text("error"),
            DateTimeOffset.Parse(Text("created_at")!, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(Text("updated_at")!, CultureInfo.InvariantCulture)));

    /// <summary>Runs a query and maps each row; the mapper reads columns as text (null for NULL).</summary>
    private List<T> Read<T>(string sql, (string Name, object? Value)[] parameters, Func<Func<string, string?>, T> map)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var list = new List<T>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            list.Add(map(column => reader[column] is DBNull ? null : Convert.ToString(reader[column], CultureInfo.InvariantCulture)));
        }

        return list;
    }
}

/// <summary>Which credit budget a call would exceed.</summary>
public enum SpendBudget
{
    /// <summary>The budget of this server process (MJMCP_BUDGET_CREDITS).</summary>
    Process,

    /// <summary>The budget of the UTC day, shared by every server on the journal (MJMCP_DAILY_BUDGET_CREDITS).</summary>
    Day,
}

/// <summary>The outcome of <see cref="TaskJournal.ReserveSpend"/>: the spend after it (before it, when refused) and the budget it would exceed, if any.</summary>
public sealed record SpendDecision(long ProcessSpent, long DaySpent, string Day, SpendBudget? ExceededBudget);

/// <summary>The journal file cannot be used (damaged, not a database, unwritable): names the file and the way out.</summary>
public sealed class JournalUnusableException : Exception
{
    /// <summary>Creates the exception.</summary>
    public JournalUnusableException(string path, string problem, Exception? innerException = null)
        : base($"The task journal {path} cannot be used: {problem}. Move it aside and start with a fresh journal (mjmcp --reset-journal does that: it renames the file to {Path.GetFileName(path)}.broken-<time> and starts fresh), or point MJMCP_DATA_DIR at another folder.", innerException)
    {
        Path_ = path;
    }

    /// <summary>Creates the exception.</summary>
    public JournalUnusableException()
        : this(string.Empty, "unknown")
    {
    }

    /// <summary>Creates the exception.</summary>
    public JournalUnusableException(string message)
        : base(message)
    {
        Path_ = string.Empty;
    }

    /// <summary>Creates the exception.</summary>
    public JournalUnusableException(string message, Exception innerException)
        : base(message, innerException)
    {
        Path_ = string.Empty;
    }

    /// <summary>The journal file.</summary>
    public string JournalPath => Path_;

    private string Path_ { get; }
}
