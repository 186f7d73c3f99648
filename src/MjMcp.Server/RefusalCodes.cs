namespace MjMcp.Server;

/// <summary>
/// Every <c>error.code</c> a tool result can carry, with its one-line meaning. Every refusal site uses one of
/// these constants (never a string literal); README's refusal table documents each, and
/// <c>RefusalCatalogTests</c> checks both. Add a code here, with its meaning in <see cref="All"/>, before using it.
/// </summary>
public static class RefusalCodes
{
    /// <summary>The tool has no argument of that name; the message lists the ones it takes.</summary>
    public const string UnknownArgument = "unknown_argument";

    /// <summary>An argument has the wrong type, is out of range, not an allowed value, or holds a control character.</summary>
    public const string InvalidArgument = "invalid_argument";

    /// <summary>A required argument of a built-in tool is missing.</summary>
    public const string MissingArgument = "missing_argument";

    /// <summary>Two arguments that exclude each other were both given.</summary>
    public const string ConflictingArguments = "conflicting_arguments";

    /// <summary>The operation needs a parent task_id and none was given.</summary>
    public const string MissingParent = "missing_parent";

    /// <summary>No task of that id is known here or at the provider.</summary>
    public const string UnknownTask = "unknown_task";

    /// <summary>The parent task is of a stage (or was made by an operation) this operation cannot use.</summary>
    public const string WrongParentStage = "wrong_parent_stage";

    /// <summary>The parent task failed; nothing can be made from it.</summary>
    public const string ParentFailed = "parent_failed";

    /// <summary>The parent task is still running; wait for it first.</summary>
    public const string ParentNotFinished = "parent_not_finished";

    /// <summary>The call would exceed the configured credit budget; nothing was sent.</summary>
    public const string BudgetExceeded = "budget_exceeded";

    /// <summary>The task failed at the provider (moderation, or its own error); the message is the provider's reason.</summary>
    public const string TaskFailed = "task_failed";

    /// <summary>The spend cap is full and no slot freed within the call's wait; nothing was sent.</summary>
    public const string ServerBusy = "server_busy";

    /// <summary>The journal cannot be written, so nothing was sent.</summary>
    public const string JournalUnavailable = "journal_unavailable";

    /// <summary>The provider accepted the task but the journal could not record it; the result carries the task_id.</summary>
    public const string JournalWriteFailed = "journal_write_failed";

    /// <summary>The submit may or may not have reached the provider; it is kept as an uncertain intent.</summary>
    public const string SubmitUncertain = "submit_uncertain";

    /// <summary>The task did not finish within the wait and is not in the journal.</summary>
    public const string WaitTimeout = "wait_timeout";

    /// <summary>The provider rejected the API key.</summary>
    public const string ProviderAuth = "provider_auth";

    /// <summary>The provider asked us to slow down (429).</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>The provider refused the request (its message is included).</summary>
    public const string ProviderRefused = "provider_refused";

    /// <summary>The provider could not be reached; nothing was sent.</summary>
    public const string ProviderUnreachable = "provider_unreachable";

    /// <summary>Another provider failure (protocol or unexpected answer).</summary>
    public const string ProviderError = "provider_error";

    /// <summary>upload_image: a path was given over a transport that does not allow files.</summary>
    public const string PathNotAllowed = "path_not_allowed";

    /// <summary>upload_image: the client declares no MCP roots, so no path can be read.</summary>
    public const string NoRoots = "no_roots";

    /// <summary>upload_image: the path is outside every MCP root of the client.</summary>
    public const string PathOutsideRoots = "path_outside_roots";

    /// <summary>Every code with its one-line meaning, in the order of README's refusal table.</summary>
    public static IReadOnlyDictionary<string, string> All { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [UnknownArgument] = "The tool has no argument of that name; the message lists the ones it takes.",
        [InvalidArgument] = "An argument has the wrong type, is out of range, not an allowed value, or holds a control character.",
        [MissingArgument] = "A required argument of a built-in tool is missing.",
        [ConflictingArguments] = "Two arguments that exclude each other were both given.",
        [MissingParent] = "The operation needs a parent task_id and none was given.",
        [UnknownTask] = "No task of that id is known here or at the provider.",
        [WrongParentStage] = "The parent is of a stage (or made by an operation) this operation cannot use.",
        [ParentFailed] = "The parent task failed; nothing can be made from it.",
        [ParentNotFinished] = "The parent task is still running; wait for it first.",
        [BudgetExceeded] = "The call would exceed the configured credit budget; nothing was sent.",
        [TaskFailed] = "The task failed at the provider (moderation, or its own error); the message is its reason.",
        [ServerBusy] = "The spend cap is full and no slot freed within the call's wait; nothing was sent.",
        [JournalUnavailable] = "The journal cannot be written, so nothing was sent.",
        [JournalWriteFailed] = "The provider accepted the task but the journal could not record it; the result carries the task_id.",
        [SubmitUncertain] = "The submit may have reached the provider; it is kept as an uncertain intent (list_tasks).",
        [WaitTimeout] = "The task did not finish within the wait and is not in the journal.",
        [ProviderAuth] = "The provider rejected the API key.",
        [RateLimited] = "The provider asked us to slow down (429).",
        [ProviderRefused] = "The provider refused the request (its message is included).",
        [ProviderUnreachable] = "The provider could not be reached; nothing was sent.",
        [ProviderError] = "Another provider failure (protocol or unexpected answer).",
        [PathNotAllowed] = "upload_image: a path was given where files may not be read (use image_base64).",
        [NoRoots] = "upload_image: the client declares no MCP roots, so no path can be read.",
        [PathOutsideRoots] = "upload_image: the path is outside every MCP root of the client.",
    };
}
