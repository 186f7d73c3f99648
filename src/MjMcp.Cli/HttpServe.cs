using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MjMcp.Server;
using MjMcp.Server.Http;

namespace MjMcp.Cli;

/// <summary><c>mjmcp serve --http HOST:PORT</c>: the same MCP server over Streamable HTTP, and <c>mjmcp token new NAME</c>.</summary>
internal static class HttpServe
{
    /// <summary>
    /// Serves MCP over Streamable HTTP at <c>http://HOST:PORT/mcp</c> (plus <c>/healthz</c>, <c>/readyz</c>) until Ctrl+C or
    /// SIGTERM. Refuses a non-loopback address with no client tokens. A bad setting is one line on stderr and exit code 2.
    /// </summary>
    public static async Task<int> ServeAsync(Action<MjMcpServerOptions> flags, IPEndPoint endpoint, bool resetJournal, CancellationToken cancellationToken)
    {
        WebApplication app;
        MjMcpHttpOptions http;
        try
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
            Cli.AddAppSettings(builder.Configuration);
            builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            http = MjMcpHttpOptions.Load(builder.Configuration);
            var loopback = IPAddress.IsLoopback(endpoint.Address);
            if (!loopback && http.Tokens.Count == 0)
            {
                await Console.Error.WriteLineAsync($"mjmcp: refusing to serve MCP on {endpoint} (not a loopback address) without client tokens: anyone who reaches it could spend the account's credits. Make a token with `mjmcp token new NAME` and set {MjMcpHttpOptions.TokensVariable} (or MjMcp:Http:Tokens:NAME in appsettings.json), or serve on 127.0.0.1.").ConfigureAwait(false);
                return 2;
            }

            if (resetJournal)
            {
                Cli.MoveJournalAside(Cli.Effective(builder.Configuration, flags).DataDir);
            }

            builder.WebHost.ConfigureKestrel(o => o.Listen(endpoint));
            if (loopback)
            {
                // On loopback only loopback host names: a web page cannot reach this server by DNS rebinding.
                builder.Services.AddHostFiltering(o => o.AllowedHosts = ["localhost", "127.0.0.1", "[::1]"]);
            }

            builder.AddMidjourneyMcpServer(o =>
            {
                flags(o);
                o.ServerName = "mjmcp";
            }).WithMjMcpHttpTransport(http);
            app = builder.Build();
            if (loopback)
            {
                app.UseHostFiltering();
            }

            app.MapMjMcp("/mcp");
        }
        catch (Exception ex) when (Cli.Problem(ex) is { } problem)
        {
            await Console.Error.WriteLineAsync("mjmcp: " + problem).ConfigureAwait(false);
            return 2;
        }

        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                await Console.Error.WriteLineAsync($"mjmcp: cannot listen on {endpoint}: {ex.Message} Pick another port (--http {endpoint.Address}:0 takes any free one).").ConfigureAwait(false);
                return 2;
            }
            catch (Exception ex) when (Cli.Problem(ex) is { } problem)
            {
                await Console.Error.WriteLineAsync("mjmcp: " + problem).ConfigureAwait(false);
                return 2;
            }

            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? $"http://{endpoint}";
            var access = http.Tokens.Count == 0 ? "no client tokens (loopback only)" : $"{http.Tokens.Count} client token(s), {(http.SharedScope ? "shared scope: every client sees every task" : "each client sees its own tasks")}";
            await Console.Error.WriteLineAsync($"mjmcp: MCP over Streamable HTTP at {address}/mcp ({access}; backend: {app.Services.GetRequiredService<ServerSettings>().Backend}); health: {address}/healthz, {address}/readyz. Ctrl+C stops.").ConfigureAwait(false);
            await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>Reads <c>HOST:PORT</c>: an IP address (IPv6 in brackets) or localhost, and a port (0: any free one).</summary>
    public static IPEndPoint? ParseEndpoint(string text, out string? problem)
    {
        problem = null;
        var colon = text.LastIndexOf(':');
        if (colon > 0 && string.Equals(text[..colon], "localhost", StringComparison.OrdinalIgnoreCase) && int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port <= 65535)
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        if (colon > 0 && IPEndPoint.TryParse(text, out var endpoint) && text[(colon + 1)..].All(char.IsAsciiDigit))
        {
            return endpoint;
        }

        problem = $"--http needs HOST:PORT with an IP address or localhost, e.g. --http 127.0.0.1:8080 (port 0: any free one); got '{text}'";
        return null;
    }

    /// <summary><c>mjmcp token new NAME</c>: a fresh token, shown once, and the setting that stores its hash.</summary>
    public static async Task<int> NewTokenAsync(string name)
    {
        var (token, hash) = MjMcpHttpOptions.NewToken();
        var lines = new[]
        {
            $"token: {token}",
            $"hash: {hash}",
            string.Empty,
            $"The token is shown once; mjmcp stores only its hash. Give the token to the client '{name}', which sends it as",
            $"  Authorization: Bearer {token}",
            "and configure the server with one of:",
            $"  {MjMcpHttpOptions.TokensVariable}={name}={hash}   (several clients: name=hash pairs, comma-separated)",
            $"  appsettings.json: {{ \"MjMcp\": {{ \"Http\": {{ \"Tokens\": {{ \"{name}\": \"{hash}\" }} }} }} }}",
        };
        foreach (var line in lines)
        {
            await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
        }

        return 0;
    }
}
