using System.Globalization;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace MjMcp.Packaging.Tests;

/// <summary>The packaging tests share one packed feed: the shipping projects are packed once per run.</summary>
[CollectionDefinition(Name)]
public sealed class PackedFeedCollection : ICollectionFixture<PackedFeed>
{
    public const string Name = "packed feed";
}

/// <summary>
/// Packs the four shipping projects once (Release) into a temporary folder feed, with a version no earlier run
/// used (<c>VersionPrefix-tYYYYMMDDHHMMSSxxxxxx</c>), so the global packages folder can never serve a stale copy.
/// The packing happens in a copy of the working tree (tracked and untracked, not ignored files), so it neither
/// races with builds of the repository running at the same time nor leaves Release outputs in it.
/// </summary>
public sealed class PackedFeed : IAsyncLifetime
{
    /// <summary>The projects that ship, relative to the repository root.</summary>
    public static readonly string[] ShippingProjects = ["src/MjMcp.Sdk", "src/MjMcp.Server", "src/MjMcp.Cli", "src/MjMcp.Templates"];

    /// <summary>The package ids the feed must hold.</summary>
    public static readonly string[] PackageIds = ["MjMcp.Sdk", "MjMcp.Server", "mjmcp", "MjMcp.Templates"];

    /// <summary>The folder every packaging test works under; deleted at the end.</summary>
    public string RunDirectory { get; } = Path.Combine(Path.GetTempPath(), "mjmcp-packaging", "run-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The folder feed.</summary>
    public string FeedDirectory => Path.Combine(RunDirectory, "feed");

    /// <summary>The version of every package in the feed.</summary>
    public string Version { get; private set; } = string.Empty;

    /// <summary>The machine's own enabled package sources (name, URL), for the consumers' NuGet.config.</summary>
    public IReadOnlyList<(string Name, string Url)> UpstreamSources { get; private set; } = [];

    /// <summary>The dotnet pack output of every project, for failure messages.</summary>
    public string PackLog { get; private set; } = string.Empty;

    private string? _globalPackages;

    public string Package(string id) => Path.Combine(FeedDirectory, $"{id}.{Version}.nupkg");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(FeedDirectory);
        Version = string.Create(CultureInfo.InvariantCulture, $"{Repo.VersionPrefix()}-t{DateTime.UtcNow:yyyyMMddHHmmss}{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}");
        UpstreamSources = await ReadUpstreamSourcesAsync();
        _globalPackages = await ReadGlobalPackagesFolderAsync();

        var tree = Path.Combine(RunDirectory, "tree");
        await CopyWorkingTreeAsync(Repo.Root, tree);
        var log = new StringBuilder();
        foreach (var project in ShippingProjects)
        {
            var result = await ProcessRunner.RunAsync(
                "dotnet",
                ["pack", Path.Combine(tree, project), "-c", "Release", "-o", FeedDirectory, $"-p:Version={Version}", "-nologo", "-tl:off", "-clp:NoSummary"],
                tree,
                TimeSpan.FromMinutes(10));
            log.AppendLine(result.Output);
            if (result.ExitCode != 0)
            {
                PackLog = log.ToString();
                throw new InvalidOperationException($"dotnet pack {project} failed:\n{result.Output}");
            }
        }

        PackLog = log.ToString();
    }

    public Task DisposeAsync()
    {
        // The unique version must not pile up in the global packages folder.
        if (_globalPackages is not null && Version.Length > 0)
        {
            foreach (var id in PackageIds)
            {
                var idFolder = Path.Combine(_globalPackages, id.ToLowerInvariant());
                TryDelete(Path.Combine(idFolder, Version.ToLowerInvariant()));
                if (Directory.Exists(idFolder) && !Directory.EnumerateFileSystemEntries(idFolder).Any())
                {
                    TryDelete(idFolder);
                }
            }
        }

        TryDelete(RunDirectory);
        return Task.CompletedTask;
    }

    /// <summary>A NuGet.config: the temporary feed and the machine's sources, nothing else.</summary>
    public string NuGetConfig()
    {
        var xml = new StringBuilder();
        xml.AppendLine("""<?xml version="1.0" encoding="utf-8"?>""");
        xml.AppendLine("<configuration>");
        xml.AppendLine("  <packageSources>");
        xml.AppendLine("    <clear />");
        xml.AppendLine(CultureInfo.InvariantCulture, $"""    <add key="mjmcp-test-feed" value="{SecurityElement.Escape(FeedDirectory)}" />""");
        foreach (var (name, url) in UpstreamSources)
        {
            xml.AppendLine(CultureInfo.InvariantCulture, $"""    <add key="{SecurityElement.Escape(name)}" value="{SecurityElement.Escape(url)}" />""");
        }

        xml.AppendLine("  </packageSources>");
        // No source mapping: a user-level one would not know the feed, and `dotnet tool install --add-source`
        // refuses to run with one. The feed's version exists nowhere else, so it is the only possible source.
        xml.AppendLine("  <packageSourceMapping>");
        xml.AppendLine("    <clear />");
        xml.AppendLine("  </packageSourceMapping>");
        xml.AppendLine("</configuration>");
        return xml.ToString();
    }

    /// <summary>
    /// The enabled sources as the machine's NuGet configuration has them (`dotnet nuget list source` run in the
    /// repository, so a repository, user or machine NuGet.config with a registry mirror counts), names kept so
    /// credentials stored for them still apply. nuget.org if none can be read.
    /// </summary>
    private static async Task<IReadOnlyList<(string Name, string Url)>> ReadUpstreamSourcesAsync()
    {
        var result = await ProcessRunner.RunAsync("dotnet", ["nuget", "list", "source", "--format", "Detailed"], Repo.Root, TimeSpan.FromMinutes(1));
        var sources = new List<(string, string)>();
        if (result.ExitCode == 0)
        {
            var lines = result.Stdout.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            for (var i = 0; i + 1 < lines.Length; i++)
            {
                // "1.  nuget.org [Enabled]" followed by the URL.
                var line = lines[i];
                var dot = line.IndexOf(". ", StringComparison.Ordinal);
                if (dot > 0 && int.TryParse(line[..dot], NumberStyles.None, CultureInfo.InvariantCulture, out _) && line.EndsWith("[Enabled]", StringComparison.Ordinal))
                {
                    var name = line[(dot + 1)..^"[Enabled]".Length].Trim();
                    sources.Add((name, lines[i + 1]));
                }
            }
        }

        return sources.Count > 0 ? sources : [("nuget.org", "https://api.nuget.org/v3/index.json")];
    }

    private static async Task<string?> ReadGlobalPackagesFolderAsync()
    {
        var fromEnv = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (!string.IsNullOrEmpty(fromEnv))
        {
            return fromEnv;
        }

        var result = await ProcessRunner.RunAsync("dotnet", ["nuget", "locals", "global-packages", "--list"], Repo.Root, TimeSpan.FromMinutes(1));
        const string Prefix = "global-packages:";
        var line = result.Stdout.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(Prefix, StringComparison.Ordinal));
        return line is null ? null : line[Prefix.Length..].Trim();
    }

    /// <summary>Copies the files git would commit (tracked or untracked, not ignored), plus the .git pointer for Source Link.</summary>
    private static async Task CopyWorkingTreeAsync(string from, string to)
    {
        var listed = await ProcessRunner.RunAsync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], from, TimeSpan.FromMinutes(1));
        if (listed.ExitCode != 0)
        {
            throw new InvalidOperationException($"git ls-files failed:\n{listed.Output}");
        }

        foreach (var relative in listed.Stdout.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Trim('\n')).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal))
        {
            var source = Path.Combine(from, relative);
            if (!File.Exists(source))
            {
                continue; // deleted in the working tree
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
        }

        // A worktree's .git is a file pointing at the git directory; a clone's is a folder. Either way Source Link
        // reads the commit from it; the copy only reads it.
        var git = Path.Combine(from, ".git");
        if (File.Exists(git))
        {
            File.Copy(git, Path.Combine(to, ".git"), overwrite: true);
        }
        else if (Directory.Exists(git))
        {
            File.WriteAllText(Path.Combine(to, ".git"), $"gitdir: {git}\n");
        }
    }

    internal static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
            {
                Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Best effort: a temp folder.
        }
        catch (UnauthorizedAccessException)
        {
            // Best effort: a temp folder.
        }
    }
}
