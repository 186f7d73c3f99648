using System.Text.RegularExpressions;

namespace MjMcp.Packaging.Tests;

/// <summary>The repository these tests run in, and things read from it.</summary>
internal static partial class Repo
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    /// <summary>The folder with MjMcp.sln, found upwards from the test binaries.</summary>
    public static string Root => RootPath.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Spec() => File.ReadAllText(PathOf("spec", "midjourney.yaml"));

    /// <summary>The fenced code block between &lt;!-- snippet:NAME:start --&gt; and its end marker in README.md.</summary>
    public static string ReadmeSnippet(string name)
    {
        var readme = File.ReadAllText(PathOf("README.md")).ReplaceLineEndings("\n");
        var start = $"<!-- snippet:{name}:start -->";
        var end = $"<!-- snippet:{name}:end -->";
        var from = readme.IndexOf(start, StringComparison.Ordinal);
        var to = readme.IndexOf(end, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, $"README.md has no {start} … {end} block");
        var block = readme[(from + start.Length)..to];
        var match = FencedCSharp().Match(block);
        Assert.True(match.Success, $"The {name} snippet in README.md has no ```csharp block");
        return match.Groups["code"].Value;
    }

    /// <summary>The VersionPrefix every package shares (Directory.Build.props).</summary>
    public static string VersionPrefix()
    {
        var match = VersionPrefixElement().Match(File.ReadAllText(PathOf("Directory.Build.props")));
        return match.Success ? match.Groups["v"].Value.Trim() : "0.0.0";
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MjMcp.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"No MjMcp.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex("```csharp\\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex FencedCSharp();

    [GeneratedRegex("<VersionPrefix>(?<v>[^<]+)</VersionPrefix>")]
    private static partial Regex VersionPrefixElement();
}
