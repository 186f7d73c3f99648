using System.Globalization;

namespace MjMcp.Packaging.Tests;

/// <summary>
/// A temporary folder outside the repository in which a consumer of the packages lives: a NuGet.config that
/// sees only the packed feed (for MjMcp packages) and the machine's sources, and empty Directory.Build.*
/// files so nothing above it leaks in. Deleted on dispose.
/// </summary>
internal sealed class ConsumerFolder : IDisposable
{
    private ConsumerFolder(PackedFeed feed, string root)
    {
        Feed = feed;
        Root = root;
    }

    public PackedFeed Feed { get; }

    public string Root { get; }

    public static ConsumerFolder Create(PackedFeed feed, string name)
    {
        var root = Path.Combine(feed.RunDirectory, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        var folder = new ConsumerFolder(feed, root);
        folder.Write("NuGet.config", feed.NuGetConfig());
        folder.Write("Directory.Build.props", "<Project />\n");
        folder.Write("Directory.Build.targets", "<Project />\n");
        folder.Write("Directory.Packages.props", "<Project />\n");
        return folder;
    }

    public string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public string Write(string relativePath, string content)
    {
        var path = PathOf(relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    public string Read(string relativePath) => File.ReadAllText(PathOf(relativePath));

    public string TempDirectory(string name)
    {
        var path = PathOf(name);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>Runs `dotnet ARGS` in <paramref name="workingDirectory"/> (relative to the folder; default its root).</summary>
    public Task<ProcessResult> DotnetAsync(IEnumerable<string> args, TimeSpan? timeout = null, string? workingDirectory = null, IReadOnlyDictionary<string, string?>? env = null) =>
        ProcessRunner.RunAsync("dotnet", args, workingDirectory is null ? Root : PathOf(workingDirectory), timeout ?? TimeSpan.FromMinutes(5), env);

    /// <summary>A console project referencing packages of the feed (version of the feed).</summary>
    public string WriteProject(string relativePath, IEnumerable<string> packageIds, string extraProperties = "", string extraItems = "")
    {
        var references = string.Concat(packageIds.Select(id => string.Create(CultureInfo.InvariantCulture, $"""    <PackageReference Include="{id}" Version="{Feed.Version}" />{"\n"}""")));
        return Write(relativePath, $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
            {extraProperties}  </PropertyGroup>
              <ItemGroup>
            {references}{extraItems}  </ItemGroup>
            </Project>

            """);
    }

    public void Dispose() => PackedFeed.TryDelete(Root);
}
