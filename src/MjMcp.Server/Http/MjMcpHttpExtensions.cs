using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using ModelContextProtocol.AspNetCore;
using MjMcp.Server;
using MjMcp.Server.Http;

#pragma warning disable IDE0130 // Builder extensions live in the builder's namespace, as the MCP SDK's own do.
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>MCP over Streamable HTTP for MjMcp servers: the SDK's ASP.NET Core transport, bearer-token clients, task ownership, health.</summary>
public static class MjMcpHttpExtensions
{
    /// <summary>The tag of the readiness checks (<c>/readyz</c>).</summary>
    public const string ReadyTag = "mjmcp-ready";

    /// <summary>
    /// Serves the server's tools, resources and prompts over Streamable HTTP (map the endpoint with
    /// <c>app.MapMjMcp("/mcp")</c>). Clients with <c>initialize</c> (protocol 2025-11-25 and earlier) get a session;
    /// newer ones are served per request. With tokens in <paramref name="options"/> every MCP request needs one
    /// (<see cref="BearerTokenHandler"/>), and each task belongs to the token that made it. Adds the journal and backend
    /// readiness checks. <paramref name="options"/>: <see cref="MjMcpHttpOptions.Load"/> of the host's configuration.
    /// </summary>
    public static IMcpServerBuilder WithMjMcpHttpTransport(this IMcpServerBuilder builder, MjMcpHttpOptions options)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var services = builder.Services;
        services.AddSingleton(options);
        var hashes = options.Hashes();

        // Authentication brings ASP.NET Core data protection, which nothing here uses (bearer tokens are not protected
        // payloads): keys in memory, none written to the user's profile.
        services.TryAddSingleton<IDataProtectionProvider, EphemeralDataProtectionProvider>();
        services.AddAuthentication(BearerTokenHandler.SchemeName).AddScheme<BearerTokenOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, o => o.Hashes = hashes);
        services.AddAuthorization();

        // Over HTTP several clients share the process: a log line goes only to the client whose request wrote it.
        if (services.FirstOrDefault(d => d.ServiceType == typeof(ClientLogForwarder))?.ImplementationInstance is ClientLogForwarder forwarder)
        {
            forwarder.PerRequest = true;
        }

        services.AddHealthChecks()
            .Add(new HealthCheckRegistration("journal", sp => new JournalReadyCheck(sp.GetRequiredService<ITaskJournal>()), HealthStatus.Unhealthy, [ReadyTag]))
            .Add(new HealthCheckRegistration("backend", sp => new BackendReadyCheck(sp.GetRequiredService<IHostApplicationLifetime>(), sp.GetRequiredService<ServerSettings>()), HealthStatus.Unhealthy, [ReadyTag]));

        return builder.WithHttpTransport(o => o.SessionMode = HttpServerSessionMode.StatefulForInitializeClients);
    }

    /// <summary>Readiness: every hosted service has started (the backend: embedded sandbox or provider client, webhook receiver) and none is stopping.</summary>
    internal sealed class BackendReadyCheck(IHostApplicationLifetime lifetime, ServerSettings settings) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
            Task.FromResult(
                lifetime.ApplicationStopping.IsCancellationRequested ? HealthCheckResult.Unhealthy("the server is stopping")
                : !lifetime.ApplicationStarted.IsCancellationRequested ? HealthCheckResult.Unhealthy("the backend is still starting")
                : HealthCheckResult.Healthy(settings.Backend));
    }
}
