using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MjMcp.Server.Http;

/// <summary>Readiness (<c>/readyz</c>): the task journal answers a read; otherwise unhealthy, with the journal's location and the error.</summary>
internal sealed class JournalReadyCheck : IHealthCheck
{
    private readonly Action _probe;
    private readonly string _location;

    public JournalReadyCheck(ITaskJournal journal)
        : this(() => journal.List(null, 1), journal.Location)
    {
    }

    /// <summary>A check with its own probe (tests).</summary>
    internal JournalReadyCheck(Action probe, string location)
    {
        _probe = probe;
        _location = location;
    }

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            _probe();
            return Task.FromResult(HealthCheckResult.Healthy());
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"the task journal ({_location}) cannot be read: {ex.Message}"));
        }
    }
}
