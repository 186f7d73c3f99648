using System.Net;

namespace MjMcp;

/// <summary>Base of every MjMcp error. Messages never contain the API key or webhook secrets.</summary>
public abstract class MjException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected MjException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }

    /// <summary>
    /// True when a submit was sent but its outcome is unknown (no answer, a dropped connection, a 500/502/504, a time-out
    /// after sending): the provider may have created (and charged for) a task. Such a submit is never resent
    /// automatically. False means nothing was created: a retry is safe.
    /// </summary>
    public bool MayHaveCreatedTask { get; init; }
}

/// <summary>One thing wrong with a request, found before it was sent.</summary>
/// <param name="Parameter">The parameter (wire name) or "parent".</param>
/// <param name="Message">What is wrong and how to fix it.</param>
/// <param name="Allowed">The allowed values, when there is a short list.</param>
public sealed record ValidationProblem(string Parameter, string Message, IReadOnlyList<string>? Allowed = null);

/// <summary>The request was refused before anything was sent: no credit was spent.</summary>
public sealed class MjValidationException : MjException
{
    /// <summary>Creates the exception from its problems.</summary>
    public MjValidationException(string operation, IReadOnlyList<ValidationProblem> problems)
        : base($"{operation}: " + string.Join(" ", problems.Select(p => p.Message)))
    {
        Operation = operation;
        Problems = problems;
    }

    /// <summary>The operation that was refused.</summary>
    public string Operation { get; }

    /// <summary>Everything that is wrong.</summary>
    public IReadOnlyList<ValidationProblem> Problems { get; }
}

/// <summary>The provider answered with an error status.</summary>
public class MjProviderException : MjException
{
    /// <summary>Creates the exception.</summary>
    public MjProviderException(HttpStatusCode statusCode, string path, string? providerMessage, string message)
        : base(message)
    {
        StatusCode = statusCode;
        Path = path;
        ProviderMessage = providerMessage;
    }

    /// <summary>The HTTP status.</summary>
    public HttpStatusCode StatusCode { get; }

    /// <summary>The endpoint.</summary>
    public string Path { get; }

    /// <summary>The provider's own message, when it sent one.</summary>
    public string? ProviderMessage { get; }
}

/// <summary>The provider rejected the API key (401/403).</summary>
public sealed class MjAuthenticationException : MjProviderException
{
    /// <summary>Creates the exception.</summary>
    public MjAuthenticationException(HttpStatusCode statusCode, string path, string? providerMessage)
        : base(statusCode, path, providerMessage, $"The provider rejected the API key ({(int)statusCode} on {path}). Check MJMCP_API_KEY or MidjourneyOptions.ApiKey.")
    {
    }
}

/// <summary>The provider is rate-limiting (429).</summary>
public sealed class MjRateLimitedException : MjProviderException
{
    /// <summary>Creates the exception.</summary>
    public MjRateLimitedException(string path, string? providerMessage, TimeSpan? retryAfter)
        : base(HttpStatusCode.TooManyRequests, path, providerMessage, $"The provider is rate-limiting {path} (429){(retryAfter is { } r ? $"; retry after {r.TotalSeconds:0.#} s" : string.Empty)}. Nothing was created, so retrying then is safe.")
    {
        RetryAfter = retryAfter;
    }

    /// <summary>How long the provider asked us to wait.</summary>
    public TimeSpan? RetryAfter { get; }
}

/// <summary>The task ran and failed (moderation, provider error).</summary>
public sealed class MjTaskFailedException : MjException
{
    /// <summary>Creates the exception.</summary>
    public MjTaskFailedException(string taskId, string? reason)
        : base($"Task {taskId} failed: {reason ?? "the provider gave no reason"}.")
    {
        TaskId = taskId;
        Reason = reason;
    }

    /// <summary>The task.</summary>
    public string TaskId { get; }

    /// <summary>The provider's reason.</summary>
    public string? Reason { get; }
}

/// <summary>Waiting for a task passed its deadline; the task may still finish: wait again later.</summary>
public sealed class MjWaitTimeoutException : MjException
{
    /// <summary>Creates the exception.</summary>
    public MjWaitTimeoutException(string taskId, TaskProgress? last, TimeSpan waited)
        : base($"Task {taskId} was not finished after {waited.TotalSeconds:0} s (last status: {last?.Status ?? "unknown"}{(last?.Percentage is { } p ? $", {p}%" : string.Empty)}). It may still finish: wait for it again.")
    {
        TaskId = taskId;
        Last = last;
    }

    /// <summary>The task.</summary>
    public string TaskId { get; }

    /// <summary>The last progress seen.</summary>
    public TaskProgress? Last { get; }
}

/// <summary>The request did not reach the provider or no answer came back.</summary>
public sealed class MjTransportException : MjException
{
    /// <summary>Creates the exception.</summary>
    public MjTransportException(string message, bool mayHaveCreatedTask, Exception? inner = null)
        : base(message, inner)
    {
        MayHaveCreatedTask = mayHaveCreatedTask;
    }
}

/// <summary>The provider's reply did not have the expected shape.</summary>
public sealed class MjProtocolException : MjException
{
    /// <summary>Creates the exception.</summary>
    public MjProtocolException(string message, Exception? inner = null)
        : base(message, inner)
    {
    }
}
