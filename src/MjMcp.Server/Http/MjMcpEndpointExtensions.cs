using System.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MjMcp.Server.Http;

#pragma warning disable IDE0130 // Endpoint extensions live in the builder's namespace, as ASP.NET Core's own do.
namespace Microsoft.AspNetCore.Builder;
#pragma warning restore IDE0130

/// <summary>Maps an MjMcp server's HTTP endpoints.</summary>
public static class MjMcpEndpointExtensions
{
    /// <summary>
    /// Maps MCP at <paramref name="pattern"/> (bearer token required when tokens are configured) and, unless
    /// <paramref name="health"/> is false, <c>GET /healthz</c> (alive) and <c>GET /readyz</c> (journal readable,
    /// backend started; 503 with the reason otherwise), both without authentication. Needs
    /// <see cref="Microsoft.Extensions.DependencyInjection.MjMcpHttpExtensions.WithMjMcpHttpTransport"/>.
    /// </summary>
    public static IEndpointConventionBuilder MapMjMcp(this IEndpointRouteBuilder endpoints, string pattern = "/mcp", bool health = true)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var options = endpoints.ServiceProvider.GetService<MjMcpHttpOptions>()
            ?? throw new InvalidOperationException("MapMjMcp needs WithMjMcpHttpTransport(...) on the MCP server builder first.");
        var mcp = endpoints.MapMcp(pattern);
        if (options.Tokens.Count > 0)
        {
            mcp.RequireAuthorization(new AuthorizationPolicyBuilder(BearerTokenHandler.SchemeName).RequireAuthenticatedUser().Build());
        }

        if (health)
        {
            endpoints.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = (context, _) => context.Response.WriteAsync("alive\n") });
            endpoints.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains(MjMcpHttpExtensions.ReadyTag), ResponseWriter = WriteReadiness });
        }

        return mcp;
    }

    /// <summary>"ready", or "not ready:" and the reason of each failing check.</summary>
    private static Task WriteReadiness(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (report.Status == HealthStatus.Healthy)
        {
            return context.Response.WriteAsync("ready\n");
        }

        var text = new StringBuilder("not ready:");
        foreach (var (name, entry) in report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy))
        {
            text.Append(' ').Append(name).Append(": ").Append(entry.Description ?? entry.Exception?.Message ?? entry.Status.ToString()).Append(';');
        }

        return context.Response.WriteAsync(text.Append('\n').ToString());
    }
}
