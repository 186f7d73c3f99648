using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The task journal: every task this server (or a replica beside it) submitted or learned about, and the write-ahead
/// intents of its submits, so a restarted server resumes its tasks, checks parents without asking the provider, and
/// never loses a paid task. Secrets are never stored: only task ids, stages, statuses, the submit's arguments (with
/// secrets left out by the caller) and the provider's finished /fetch reply. Every change is one transaction.
/// Implementations: <see cref="SqliteTaskJournal"/> (the default, embedded) and the PostgreSQL one; both pass one
/// contract-test suite.
/// </summary>
/// <remarks>
/// <c>owner</c> is who made a task or intent (an HTTP client's token name; null over stdio, where one user owns
/// everything). Reads return it; filtering by it is the caller's (the tool runtime's) decision, except in
/// <see cref="List"/> and <see cref="UncertainIntents"/>, where a limit applies after the filter.
/// </remarks>
public interface ITaskJournal : IDisposable
{
    /// <summary>Where the journal lives, for messages (a file path, or a database without its password).</summary>
    string Location { get; }

    /// <summary>Writes a submit down BEFORE its request is sent; returns the intent id, which the submit's webhook URL carries.</summary>
    string BeginIntent(OperationRule operation, string? parentTaskId, string argumentsJson, string? owner = null);

    /// <summary>The provider accepted the intent's submit as <paramref name="taskId"/>: one transaction completes the intent and records the task (owned by the intent's owner).</summary>
    void AcceptIntent(string intentId, string taskId, OperationRule operation, string? parentTaskId);

    /// <summary>How many intents were completed by a webhook alone (orphans whose submit's answer never came back).</summary>
    int RecoveredIntents();

    /// <summary>The submit's outcome is unknown: the provider may have created a task. Kept and listed, never resent.</summary>
    void MarkIntentUncertain(string intentId, string reason);

    /// <summary>Nothing reached the provider (or it refused): the intent is closed, its credits released; a retry is safe.</summary>
    void MarkIntentNotSent(string intentId, string reason);

    /// <summary>The intent, or null.</summary>
    SubmitIntent? GetIntent(string intentId);

    /// <summary>
    /// The submits whose outcome is unknown, newest first: marked uncertain, or still "sending" past
    /// <see cref="TaskJournalDefaults.SendingGrace"/> (the sender died). Only <paramref name="owner"/>'s when given.
    /// </summary>
    IReadOnlyList<SubmitIntent> UncertainIntents(int limit = 200, string? owner = null);

    /// <summary>
    /// Applies an update that arrived by webhook. An update whose URL carried an intent id that is not yet accepted
    /// recovers that intent; otherwise only known tasks are updated (an unknown task's update is ignored: false).
    /// </summary>
    bool ApplyWebhook(FetchResponse update, string? intentId, SpecRules rules);

    /// <summary>Records a submission the provider accepted (a webhook may have told us about it first: then the parent is added).</summary>
    void RecordSubmitted(string taskId, OperationRule operation, string? parentTaskId, string? owner = null);

    /// <summary>Applies a /fetch reply. Idempotent; a finished or failed task is final.</summary>
    void ApplyFetch(FetchResponse response, SpecRules rules);

    /// <summary>Records progress of an unfinished task.</summary>
    void UpdateProgress(TaskProgress progress);

    /// <summary>Records that a task failed, with the provider's reason (a finished task stays finished).</summary>
    void MarkFailed(string taskId, string reason);

    /// <summary>The task, or null when the journal does not know it.</summary>
    TaskRecord? Get(string taskId);

    /// <summary>Tasks newest first, optionally of one stage (or result kind), optionally only <paramref name="owner"/>'s.</summary>
    IReadOnlyList<TaskRecord> List(string? stage, int limit, string? owner = null);

    /// <summary>The tasks made from <paramref name="taskId"/>.</summary>
    IReadOnlyList<TaskRecord> Children(string taskId);

    /// <summary>The unfinished tasks (to resume after a restart).</summary>
    IReadOnlyList<TaskRecord> Unfinished();

    /// <summary>The parent chain of a task, nearest first.</summary>
    IReadOnlyList<TaskRecord> Ancestors(string taskId);

    /// <summary>
    /// Reserves credits for the intent's submit, atomically against every other reservation on this journal (also from
    /// other processes or replicas). Refused past either budget (null: no limit): then the intent is closed as not sent.
    /// </summary>
    SpendDecision ReserveSpend(string intentId, string processId, string operation, int credits, long? processBudget, long? dayBudget);

    /// <summary>The credits spent (reserved and not released) by <paramref name="processId"/>, and by everyone on this journal this UTC day.</summary>
    (long ProcessSpent, long DaySpent, string Day) Spent(string processId);

    /// <summary>The current UTC day as the spend table records it (yyyy-MM-dd).</summary>
    string Day();
}

/// <summary>Constants every journal shares.</summary>
public static class TaskJournalDefaults
{
    /// <summary>How long a write-ahead intent may stay <see cref="IntentState.Sending"/> before it counts as uncertain (the sender died).</summary>
    public static TimeSpan SendingGrace { get; } = TimeSpan.FromMinutes(2);
}
