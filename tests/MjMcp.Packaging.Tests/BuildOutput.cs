using System.Text.RegularExpressions;

namespace MjMcp.Packaging.Tests;

/// <summary>One diagnostic as MSBuild's console logger prints it.</summary>
internal sealed record BuildDiagnostic(string? File, int? Line, int? Column, string Severity, string Id, string Message)
{
    public override string ToString() => $"{File}({Line},{Column}): {Severity} {Id}: {Message}";
}

/// <summary>Reads the errors and warnings out of `dotnet build` output (console logger, -clp:NoSummary).</summary>
internal static partial class BuildOutput
{
    /// <summary>The arguments every build here uses: plain console output, each diagnostic once.</summary>
    public static readonly string[] Flags = ["-nologo", "-tl:off", "-clp:NoSummary"];

    public static IReadOnlyList<BuildDiagnostic> Diagnostics(string output)
    {
        var found = new List<BuildDiagnostic>();
        foreach (var raw in output.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var located = Located().Match(line);
            if (located.Success)
            {
                found.Add(new BuildDiagnostic(
                    located.Groups["file"].Value.Trim(),
                    int.Parse(located.Groups["line"].Value, System.Globalization.CultureInfo.InvariantCulture),
                    int.Parse(located.Groups["col"].Value, System.Globalization.CultureInfo.InvariantCulture),
                    located.Groups["sev"].Value,
                    located.Groups["id"].Value,
                    located.Groups["msg"].Value.Trim()));
                continue;
            }

            var bare = Unlocated().Match(line);
            if (bare.Success)
            {
                found.Add(new BuildDiagnostic(null, null, null, bare.Groups["sev"].Value, bare.Groups["id"].Value, bare.Groups["msg"].Value.Trim()));
            }
        }

        return found.Distinct().ToArray();
    }

    public static IReadOnlyList<BuildDiagnostic> Errors(string output) => Diagnostics(output).Where(d => d.Severity == "error").ToArray();

    /// <summary>
    /// The warnings, except NU1603 (a registry mirror without the exact dependency version, so a newer one was
    /// used: a fact about the machine, not the package; the repository tolerates it too).
    /// </summary>
    public static IReadOnlyList<BuildDiagnostic> Warnings(string output) =>
        Diagnostics(output).Where(d => d.Severity == "warning" && d.Id != "NU1603").ToArray();

    [GeneratedRegex(@"^\s*(?<file>[^\s].*?)\((?<line>\d+),(?<col>\d+)(?:,\d+,\d+)?\)\s*:\s*(?<sev>error|warning)\s+(?<id>[A-Za-z]+\d+)\s*:\s*(?<msg>.*?)(?:\s+\[[^\]]+\])?$")]
    private static partial Regex Located();

    [GeneratedRegex(@"(?:^|\s|:)(?<sev>error|warning)\s+(?<id>[A-Za-z]+\d+)\s*:\s*(?<msg>.*?)(?:\s+\[[^\]]+\])?$")]
    private static partial Regex Unlocated();
}
