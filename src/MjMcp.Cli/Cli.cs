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
    /// <summary>Serves MCP on stdio until stdin closes or the token is cancelled. Flags win over MJMCP_* variables, which win over appsettings.json.</summary>
    public static async Task<int> ServeAsync(string? dataDir, string? baseUrl, int? waitSeconds, string? timing, bool resetJournal, CancellationToken cancellationToken)
    {
        if (resetJournal)
        {
            MoveJournalAside(dataDir ?? MjMcpServerOptions.Load(null).DataDir);
        }

        IHost host;
        try
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
            builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true);
            builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            builder.AddMidjourneyMcpServer(o =>
            {
                o.DataDir = dataDir ?? o.DataDir;
                o.WaitSeconds = waitSeconds ?? o.WaitSeconds;
                o.SandboxTiming = timing ?? o.SandboxTiming;
                o.ServerName = "mjmcp";
                if (baseUrl is not null)
                {
                    o.BaseUrl = Uri.TryCreate(baseUrl, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                        ? uri
                        : throw new OptionsValidationException("--base-url", typeof(MjMcpServerOptions), [$"--base-url '{baseUrl}' is not an absolute http(s) URL."]);
                }
            }).WithStdioTransport();
            host = builder.Build();
        }
        catch (OptionsValidationException ex)
        {
            await Console.Error.WriteLineAsync("mjmcp: " + ex.Message).ConfigureAwait(false);
            return 2;
        }
        catch (JournalUnusableException ex)
        {
            await Console.Error.WriteLineAsync("mjmcp: " + ex.Message).ConfigureAwait(false);
            return 2;
        }

        using (host)
        {
            await host.RunAsync(cancellationToken).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>--reset-journal: renames journal.db (and its WAL files) to journal.db.broken-&lt;time&gt; so the server starts fresh.</summary>
    private static void MoveJournalAside(string dataDir)
    {
        var journal = Path.Combine(dataDir, "journal.db");
        var stamp = DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture);
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
