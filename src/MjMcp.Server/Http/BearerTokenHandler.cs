using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MjMcp.Server.Http;

/// <summary>The settings of <see cref="BearerTokenHandler"/>: the configured token hashes.</summary>
public sealed class BearerTokenOptions : AuthenticationSchemeOptions
{
    /// <summary>The tokens' names and SHA-256 hashes.</summary>
    internal IReadOnlyList<(string Name, byte[] Hash)> Hashes { get; set; } = [];
}

/// <summary>
/// ASP.NET Core authentication for MCP clients with an opaque bearer token from the configuration (stored as its
/// SHA-256 hash). A request's token is hashed and compared with every configured hash in constant time
/// (<see cref="CryptographicOperations.FixedTimeEquals"/>, no early exit), so neither a match nor its position shows in the
/// time taken. The authenticated user's name is the token's name: the owner of the tasks it makes. No token, or a
/// wrong one: 401 with <c>WWW-Authenticate: Bearer</c>. A token is never logged. Written on the framework's own
/// <see cref="AuthenticationHandler{TOptions}"/>: the JWT handler would need a token issuer these clients do not have.
/// </summary>
public sealed class BearerTokenHandler : AuthenticationHandler<BearerTokenOptions>
{
    /// <summary>The scheme name.</summary>
    public const string SchemeName = "MjMcpBearer";

    /// <summary>The claim that carries the token's name.</summary>
    public const string ClientClaim = "mjmcp:client";

    private const string WrongToken = "wrong";

    /// <summary>Creates the handler.</summary>
    public BearerTokenHandler(IOptionsMonitor<BearerTokenOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : base(options, logger, encoder)
    {
    }

    /// <inheritdoc/>
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.Length == 0)
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= "Bearer ".Length)
        {
            Context.Items[WrongToken] = true;
            return Task.FromResult(AuthenticateResult.Fail("The Authorization header is not 'Bearer <token>'."));
        }

        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim()));
        string? match = null;
        foreach (var (name, hash) in Options.Hashes)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, hash))
            {
                match ??= name;
            }
        }

        if (match is null)
        {
            Context.Items[WrongToken] = true;
            return Task.FromResult(AuthenticateResult.Fail("The bearer token is not one of the configured tokens."));
        }

        // NameIdentifier: the MCP transport binds a session to its user by it (another token cannot take the session over).
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, match), new Claim(ClaimTypes.NameIdentifier, match), new Claim(ClientClaim, match)], SchemeName, ClaimTypes.Name, ClaimTypes.Role);
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
    }

    /// <inheritdoc/>
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var wrong = Context.Items.ContainsKey(WrongToken);
        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = wrong ? "Bearer realm=\"mjmcp\", error=\"invalid_token\"" : "Bearer realm=\"mjmcp\"";
        Response.ContentType = "text/plain; charset=utf-8";
        await Response.WriteAsync(
            wrong
                ? "401: this bearer token is not one this server accepts. Ask its operator for a token (mjmcp token new NAME makes one) and send it as 'Authorization: Bearer <token>'.\n"
                : "401: this server needs a bearer token. Send 'Authorization: Bearer <token>' (its operator makes one with mjmcp token new NAME).\n",
            Context.RequestAborted).ConfigureAwait(false);
    }
}
