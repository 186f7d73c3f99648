using System.Security.Claims;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Server;
using MjMcp.Server.Http;

namespace MjMcp.Server;

/// <summary>
/// Who is calling, for task ownership: over HTTP the authenticated client (its token's name) owns the tasks and
/// intents it makes, and sees only those, unless the shared scope is on (<see cref="MjMcpHttpOptions.SharedScope"/>);
/// over stdio (no user) the owner is null and everything is visible, as it always was. Another owner's task is
/// answered exactly as an unknown id is: nothing says it exists.
/// </summary>
internal readonly record struct TaskCaller(string? Owner, bool SeesAll)
{
    /// <summary>The stdio caller: owns nothing, sees everything.</summary>
    public static TaskCaller Local => new(null, true);

    /// <summary>The owner to filter journal reads by (<see cref="ITaskJournal.List"/>, <see cref="ITaskJournal.UncertainIntents"/>): null = everyone's.</summary>
    public string? Scope => SeesAll ? null : Owner;

    /// <summary>Whether this caller may see (fetch, wait on, continue from, read) <paramref name="task"/>.</summary>
    public bool Sees(TaskRecord? task) => task is not null && (SeesAll || string.Equals(task.Owner, Owner, StringComparison.Ordinal));

    /// <summary>The caller of an MCP request: the HTTP user (set by the transport from the authenticated request) or none.</summary>
    public static TaskCaller Of(MessageContext request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var owner = OwnerOf(request.User);
        if (owner is null)
        {
            return Local;
        }

        var shared = request.Services?.GetService<MjMcpHttpOptions>()?.SharedScope ?? false;
        return new TaskCaller(owner, shared);
    }

    /// <summary>The owner name of an authenticated user: our token's name, else the user's name or id (another scheme of the host's).</summary>
    public static string? OwnerOf(ClaimsPrincipal? user) =>
        user?.Identity?.IsAuthenticated == true
            ? user.FindFirst(BearerTokenHandler.ClientClaim)?.Value ?? user.Identity.Name ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value
            : null;
}
