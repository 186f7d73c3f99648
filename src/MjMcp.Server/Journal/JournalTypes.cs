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
    DateTimeOffset UpdatedAt,
    string? Owner = null);

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
    DateTimeOffset UpdatedAt,
    string? Owner = null);

/// <summary>Which credit budget a call would exceed.</summary>
public enum SpendBudget
{
    /// <summary>The budget of this server process (MJMCP_BUDGET_CREDITS).</summary>
    Process,

    /// <summary>The budget of the UTC day, shared by every server on the journal (MJMCP_DAILY_BUDGET_CREDITS).</summary>
    Day,
}

/// <summary>The outcome of <see cref="ITaskJournal.ReserveSpend"/>: the spend after it (before it, when refused) and the budget it would exceed, if any.</summary>
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
