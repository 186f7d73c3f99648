using System.Data;
using System.Data.Common;
using System.Globalization;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The journal over ADO.NET: every statement is written once, in the SQL that SQLite and PostgreSQL share (named
/// <c>@</c> parameters, <c>INSERT … ON CONFLICT … DO UPDATE</c>, text timestamps in ISO 8601 UTC), so both providers
/// behave alike by construction. A subclass opens connections, begins the write transaction that serialises credit
/// reservations, names its insertion-order column and migrates its schema.
/// </summary>
public abstract class SqlTaskJournal : ITaskJournal
{
    private const string RecoveredNote = "recovered by its webhook";

    // Spent credits are the spend rows of intents that may have reached the provider: a NotSent intent (nothing sent, or
    // refused by the provider) releases its row; Sending, Uncertain and Accepted keep it.
    private const string SpentSql = "SELECT COALESCE(SUM(s.credits), 0) AS spent FROM spend s JOIN intents i ON i.intent_id = s.intent_id WHERE i.state <> 'NotSent' AND ";

    private const string InsertSubmittedSql = """
        INSERT INTO tasks (task_id, operation, stage, result_kind, parent_id, status, state, percentage, owner, created_at, updated_at)
        VALUES (@id, @op, @stage, @kind, @parent, 'submitted', 'Pending', 0, @owner, @now, @now)
        ON CONFLICT(task_id) DO UPDATE SET
            parent_id = COALESCE(tasks.parent_id, excluded.parent_id),
            operation = CASE WHEN tasks.operation = '' THEN excluded.operation ELSE tasks.operation END,
            stage = COALESCE(tasks.stage, excluded.stage),
            result_kind = COALESCE(tasks.result_kind, excluded.result_kind),
            owner = COALESCE(tasks.owner, excluded.owner);
        """;

    /// <summary>Creates the journal; the subclass calls <see cref="Migrate"/> once its connection settings are known.</summary>
    protected SqlTaskJournal(TimeProvider? time) => Time = time ?? TimeProvider.System;

    /// <inheritdoc/>
    public abstract string Location { get; }

    /// <summary>The clock every timestamp comes from.</summary>
    protected TimeProvider Time { get; }

    /// <summary>The column that orders rows written in the same instant (SQLite's rowid, PostgreSQL's identity column).</summary>
    protected abstract string InsertionOrder { get; }

    /// <summary>
    /// The schema, as migrations by version (1, 2, …): each is run once, in its own transaction, and the version is
    /// recorded in <c>schema_version</c>, so a journal written by an older server is brought up to date at start.
    /// </summary>
    protected abstract IReadOnlyList<string> Migrations { get; }

    /// <summary>Opens a connection (the subclass sets its per-connection options).</summary>
    protected abstract DbConnection Open();

    /// <summary>Begins a transaction that serialises against every other writer of the spend table (all processes).</summary>
    protected abstract DbTransaction BeginSerializedWrite(DbConnection connection);

    /// <summary>Brings the schema to the newest version (idempotent; safe when several servers start at once).</summary>
    protected void Migrate()
    {
        using var connection = Open();
        Run(connection, null, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
        for (var version = 1; version <= Migrations.Count; version++)
        {
            using var transaction = BeginSerializedWrite(connection);
            var current = Convert.ToInt32(Scalar(connection, transaction, "SELECT COALESCE(MAX(version), 0) FROM schema_version"), CultureInfo.InvariantCulture);
            if (current < version)
            {
                Run(connection, transaction, Migrations[version - 1]);
                Run(connection, transaction, "INSERT INTO schema_version (version) VALUES (@v)", ("@v", version));
            }

            transaction.Commit();
        }
    }

    /// <summary>The newest schema version this journal knows (for tests and messages).</summary>
    public int SchemaVersion()
    {
        using var connection = Open();
        return Convert.ToInt32(Scalar(connection, null, "SELECT COALESCE(MAX(version), 0) FROM schema_version"), CultureInfo.InvariantCulture);
    }

    /// <inheritdoc/>
    public string BeginIntent(OperationRule operation, string? parentTaskId, string argumentsJson, string? owner = null)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var id = "i" + Guid.NewGuid().ToString("N")[..20];
        var now = Now();
        Execute(
            "INSERT INTO intents (intent_id, operation, parent_id, arguments, state, owner, created_at, updated_at) VALUES (@id, @op, @parent, @args, 'Sending', @owner, @now, @now);",
            ("@id", id),
            ("@op", operation.Name),
            ("@parent", parentTaskId),
            ("@args", argumentsJson),
            ("@owner", owner),
            ("@now", now));
        return id;
    }

    /// <inheritdoc/>
    public void AcceptIntent(string intentId, string taskId, OperationRule operation, string? parentTaskId) => AcceptIntent(intentId, taskId, operation, parentTaskId, null);

    /// <inheritdoc/>
    public int RecoveredIntents() => Read("SELECT intent_id FROM intents WHERE state = 'Accepted' AND error = @note", [("@note", RecoveredNote)], text => text("intent_id")).Count;

    private void AcceptIntent(string intentId, string taskId, OperationRule operation, string? parentTaskId, string? note)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var now = Now();
        var owner = GetIntent(intentId)?.Owner;
        ExecuteMany(
            [
                ("UPDATE intents SET state = 'Accepted', task_id = @task, error = @note, updated_at = @now WHERE intent_id = @intent AND (@note IS NULL OR state <> 'Accepted');", [("@intent", intentId), ("@task", taskId), ("@note", note), ("@now", now)]),
                (InsertSubmittedSql, SubmittedParameters(taskId, operation, parentTaskId, owner, now)),
            ]);
    }

    /// <inheritdoc/>
    public void MarkIntentUncertain(string intentId, string reason) =>
        Execute("UPDATE intents SET state = 'Uncertain', error = @error, updated_at = @now WHERE intent_id = @id AND state = 'Sending';", ("@id", intentId), ("@error", reason), ("@now", Now()));

    /// <inheritdoc/>
    public void MarkIntentNotSent(string intentId, string reason) =>
        Execute("UPDATE intents SET state = 'NotSent', error = @error, updated_at = @now WHERE intent_id = @id AND state = 'Sending';", ("@id", intentId), ("@error", reason), ("@now", Now()));

    /// <inheritdoc/>
    public SubmitIntent? GetIntent(string intentId) => QueryIntents("SELECT * FROM intents WHERE intent_id = @id", ("@id", intentId)).FirstOrDefault();

    /// <inheritdoc/>
    public IReadOnlyList<SubmitIntent> UncertainIntents(int limit = 200, string? owner = null)
    {
        var cutoff = (Time.GetUtcNow() - TaskJournalDefaults.SendingGrace).ToString("O", CultureInfo.InvariantCulture);
        return QueryIntents(
            "SELECT * FROM intents WHERE (state = 'Uncertain' OR (state = 'Sending' AND created_at < @cutoff)) AND (@owner IS NULL OR owner = @owner) ORDER BY created_at DESC LIMIT @limit",
            ("@cutoff", cutoff),
            ("@owner", owner),
            ("@limit", limit))
            .Select(i => i with { State = IntentState.Uncertain })
            .ToList();
    }

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public void RecordSubmitted(string taskId, OperationRule operation, string? parentTaskId, string? owner = null)
    {
        ArgumentNullException.ThrowIfNull(operation);
        Execute(InsertSubmittedSql, SubmittedParameters(taskId, operation, parentTaskId, owner, Now()));
    }

    private static (string Name, object? Value)[] SubmittedParameters(string taskId, OperationRule operation, string? parentTaskId, string? owner, string now) =>
    [
        ("@id", taskId),
        ("@op", operation.Name),
        ("@stage", operation.ProducesStage ? operation.Produces : null),
        ("@kind", operation.ProducesStage ? null : operation.Produces),
        ("@parent", parentTaskId),
        ("@owner", owner),
        ("@now", now),
    ];

    /// <inheritdoc/>
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
            VALUES (@id, @op, @stage, @kind, @status, @state, @pct, @type, @json, @error, @now, @now)
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
            ("@id", response.TaskId),
            ("@op", operation?.Name ?? string.Empty),
            ("@stage", operation is { ProducesStage: true } ? operation.Produces : null),
            ("@kind", operation is { ProducesStage: false } ? operation.Produces : null),
            ("@status", response.Status),
            ("@state", state.ToString()),
            ("@pct", state == TaskState.Finished ? 100 : response.Percentage),
            ("@type", string.IsNullOrEmpty(response.TaskType) ? null : response.TaskType),
            ("@json", state == TaskState.Finished ? response.Raw.GetRawText() : null),
            ("@error", state == TaskState.Failed ? response.Error ?? response.Message ?? "failed" : null),
            ("@now", now));
    }

    /// <inheritdoc/>
    public void UpdateProgress(TaskProgress progress)
    {
        ArgumentNullException.ThrowIfNull(progress);
        if (progress.State is TaskState.Finished or TaskState.Failed)
        {
            return;
        }

        Execute(
            "UPDATE tasks SET status = @status, state = @state, percentage = @pct, updated_at = @now WHERE task_id = @id AND state NOT IN ('Finished', 'Failed');",
            ("@id", progress.TaskId),
            ("@status", progress.Status),
            ("@state", progress.State.ToString()),
            ("@pct", progress.Percentage),
            ("@now", Now()));
    }

    /// <inheritdoc/>
    public void MarkFailed(string taskId, string reason) =>
        Execute(
            "UPDATE tasks SET state = 'Failed', status = COALESCE(status, 'failed'), error = @error, updated_at = @now WHERE task_id = @id AND state <> 'Finished';",
            ("@id", taskId),
            ("@error", reason),
            ("@now", Now()));

    /// <inheritdoc/>
    public TaskRecord? Get(string taskId) => Query("SELECT * FROM tasks WHERE task_id = @id", ("@id", taskId)).FirstOrDefault();

    /// <inheritdoc/>
    public IReadOnlyList<TaskRecord> List(string? stage, int limit, string? owner = null) =>
        Query(
            $"SELECT * FROM tasks WHERE (@stage IS NULL OR stage = @stage OR result_kind = @stage) AND (@owner IS NULL OR owner = @owner) ORDER BY created_at DESC, {InsertionOrder} DESC LIMIT @limit",
            ("@stage", stage),
            ("@owner", owner),
            ("@limit", limit));

    /// <inheritdoc/>
    public IReadOnlyList<TaskRecord> Children(string taskId) => Query($"SELECT * FROM tasks WHERE parent_id = @id ORDER BY created_at, {InsertionOrder}", ("@id", taskId));

    /// <inheritdoc/>
    public IReadOnlyList<TaskRecord> Unfinished() => Query("SELECT * FROM tasks WHERE state NOT IN ('Finished', 'Failed') ORDER BY created_at");

    /// <inheritdoc/>
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

    /// <inheritdoc/>
    public SpendDecision ReserveSpend(string intentId, string processId, string operation, int credits, long? processBudget, long? dayBudget)
    {
        var day = Day();
        using var connection = Open();
        using var transaction = BeginSerializedWrite(connection);
        var processSpent = Convert.ToInt64(Scalar(connection, transaction, SpentSql + "s.process_id = @p", ("@p", processId)), CultureInfo.InvariantCulture);
        var daySpent = Convert.ToInt64(Scalar(connection, transaction, SpentSql + "s.day = @d", ("@d", day)), CultureInfo.InvariantCulture);
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
            Run(connection, transaction, "UPDATE intents SET state = 'NotSent', error = 'over the credit budget', updated_at = @now WHERE intent_id = @id AND state = 'Sending';", ("@id", intentId), ("@now", Now()));
        }
        else
        {
            Run(
                connection,
                transaction,
                "INSERT INTO spend (intent_id, process_id, day, operation, credits, created_at) VALUES (@id, @p, @d, @op, @c, @now) ON CONFLICT(intent_id) DO NOTHING;",
                ("@id", intentId), ("@p", processId), ("@d", day), ("@op", operation), ("@c", credits), ("@now", Now()));
            decision = decision with { ProcessSpent = processSpent + credits, DaySpent = daySpent + credits };
        }

        transaction.Commit();
        return decision;
    }

    /// <inheritdoc/>
    public (long ProcessSpent, long DaySpent, string Day) Spent(string processId)
    {
        var day = Day();
        using var connection = Open();
        var process = Convert.ToInt64(Scalar(connection, null, SpentSql + "s.process_id = @p", ("@p", processId)), CultureInfo.InvariantCulture);
        var today = Convert.ToInt64(Scalar(connection, null, SpentSql + "s.day = @d", ("@d", day)), CultureInfo.InvariantCulture);
        return (process, today, day);
    }

    /// <inheritdoc/>
    public string Day() => Time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases pooled connections.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Now, as the journal writes timestamps (ISO 8601, UTC, sortable as text).</summary>
    protected string Now() => Time.GetUtcNow().ToString("O", CultureInfo.InvariantCulture);

    /// <summary>Runs one statement in a transaction of its own.</summary>
    protected void Execute(string sql, params (string Name, object? Value)[] parameters) => ExecuteMany([(sql, parameters)]);

    /// <summary>Runs the statements in one transaction: all or nothing.</summary>
    protected void ExecuteMany(IReadOnlyList<(string Sql, (string Name, object? Value)[] Parameters)> statements)
    {
        using var connection = Open();
        using var transaction = connection.BeginTransaction();
        foreach (var (sql, parameters) in statements)
        {
            Run(connection, transaction, sql, parameters);
        }

        transaction.Commit();
    }

    /// <summary>Runs a statement on an open connection.</summary>
    protected static void Run(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        command.ExecuteNonQuery();
    }

    /// <summary>Runs a query for one value on an open connection.</summary>
    protected static object? Scalar(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Command(connection, transaction, sql, parameters);
        return command.ExecuteScalar();
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            // Typed even when null, so PostgreSQL can tell the type of "@p IS NULL".
            parameter.DbType = value switch
            {
                int => DbType.Int32,
                long => DbType.Int64,
                _ => DbType.String,
            };
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
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
            DateTimeOffset.Parse(Text("updated_at")!, CultureInfo.InvariantCulture),
            Text("owner")));

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
            DateTimeOffset.Parse(Text("updated_at")!, CultureInfo.InvariantCulture),
            Text("owner")));

    /// <summary>Runs a query and maps each row; the mapper reads columns as text (null for NULL).</summary>
    private List<T> Read<T>(string sql, (string Name, object? Value)[] parameters, Func<Func<string, string?>, T> map)
    {
        using var connection = Open();
        using var command = Command(connection, null, sql, parameters);
        var list = new List<T>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            list.Add(map(column => reader[column] is DBNull ? null : Convert.ToString(reader[column], CultureInfo.InvariantCulture)));
        }

        return list;
    }
}
