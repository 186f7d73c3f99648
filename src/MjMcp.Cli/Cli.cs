using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MjMcp.Server;

namespace MjMcp.Cli;

/// <summary>The <c>mjmcp</c> command: the MCP library on the spec shipped with this tool, over stdio.</summary>
internal static class Cli
{
    /// <summary>
    /// Serves MCP on stdio until stdin closes or the token is cancelled. <paramref name="flags"/> win over MJMCP_* variables,
    /// which win over appsettings.json. A bad setting is one line on stderr and exit code 2.
    /// </summary>
    public static async Task<int> ServeAsync(Action<MjMcpServerOptions> flags, bool resetJournal, CancellationToken cancellationToken)
    {
        IHost host;
        try
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
            AddAppSettings(builder.Configuration);
            builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            if (resetJournal)
            {
                MoveJournalAside(Effective(builder.Configuration, flags).DataDir);
            }

            builder.AddMidjourneyMcpServer(o =>
            {
                flags(o);
                o.ServerName = "mjmcp";
            }).WithStdioTransport();
            host = builder.Build();
        }
        catch (Exception ex) when (Problem(ex) is { } problem)
        {
            await Console.Error.WriteLineAsync("mjmcp: " + problem).ConfigureAwait(false);
            return 2;
        }

        using (host)
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary><c>mjmcp settings</c>: the settings in effect, checked, on stdout (the API key only as set / not set).</summary>
    public static async Task<int> ShowSettingsAsync(Action<MjMcpServerOptions> flags)
    {
        MjMcpServerOptions o;
        MjMcp.Server.Http.MjMcpHttpOptions http;
        try
        {
            var configuration = new ConfigurationManager();
            AddAppSettings(configuration);
            o = Effective(configuration, flags);
            http = MjMcp.Server.Http.MjMcpHttpOptions.Load(configuration);
        }
        catch (Exception ex) when (Problem(ex) is { } problem)
        {
            await Console.Error.WriteLineAsync("mjmcp: " + problem).ConfigureAwait(false);
            return 2;
        }

        var lines = MjMcpSettings.All.Select(s => $"{s.Property}: {s.Show(o)}").Concat(
        [
            $"Http:Tokens: {(http.Tokens.Count == 0 ? "(none: loopback only, no authentication)" : string.Join(", ", http.Tokens.Keys.Order(StringComparer.Ordinal)) + " (hashes not shown)")}",
            $"Http:SharedScope: {(http.SharedScope ? "true" : "false")}",
        ]);
        foreach (var line in lines)
        {
            await Console.Out.WriteLineAsync(line).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>appsettings.json next to mjmcp, then (winning) the one in the working directory.</summary>
    internal static void AddAppSettings(IConfigurationBuilder configuration)
    {
        var besideExe = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        var inWorkingDir = Path.GetFullPath("appsettings.json");
        configuration.AddJsonFile(besideExe, optional: true);
        if (!string.Equals(besideExe, inWorkingDir, StringComparison.Ordinal))
        {
            configuration.AddJsonFile(inWorkingDir, optional: true);
        }
    }

    /// <summary>The settings as the server will see them: configuration and environment, then the flags, checked.</summary>
    internal static MjMcpServerOptions Effective(IConfiguration configuration, Action<MjMcpServerOptions> flags)
    {
        var options = MjMcpServerOptions.Load(configuration);
        flags(options);
        options.Validate();
        return options;
    }

    /// <summary>What to tell a person about a start-up failure they can fix, or null for a bug (which keeps its stack trace).</summary>
    internal static string? Problem(Exception ex) => ex switch
    {
        OptionsValidationException e => e.Message,
        JournalUnusableException e => e.Message,

        // A broken appsettings.json: the provider says which file, its inner exception what is wrong.
        InvalidDataException e => $"{e.Message} {e.InnerException?.Message} Fix or remove that file.",
        FormatException e => $"{e.Message} Fix the configuration file.",
        UnauthorizedAccessException or IOException => $"{ex.Message} Set --data-dir or MJMCP_DATA_DIR to a folder mjmcp can write.",
        _ => null,
    };

    /// <summary>--reset-journal: renames journal.db (and its WAL files) to journal.db.broken-&lt;time&gt; so the server starts fresh.</summary>
    internal static void MoveJournalAside(string dataDir)
    {
        var journal = Path.Combine(dataDir, "journal.db");
        var stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        foreach (var suffix in new[] { string.Empty, "-wal", "-shm" })
        {
            if (File.Exists(journal + suffix))
            {
                File.Move(journal + suffix, $"{journal}.broken-{stamp}{suffix}");
            }
        }

        Console.Error.WriteLine(File.Exists(journal) ? $"mjmcp: could not move {journal} aside." : $"mjmcp: moved the old journal aside ({journal}.broken-{stamp}); starting with a fresh one.");
    }
}
