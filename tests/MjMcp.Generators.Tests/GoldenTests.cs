using System.Runtime.CompilerServices;

namespace MjMcp.Generators.Tests;

/// <summary>
/// The generated sources of the real spec, compared with Golden/*.verified.cs. On a mismatch a .received.cs
/// is written beside it; MJMCP_ACCEPT_GOLDEN=1 accepts the new output.
/// </summary>
public sealed class GoldenTests
{
    [Theory]
    [InlineData("client", "midjourney.Stages.g.cs")]
    [InlineData("client", "midjourney.Requests.g.cs")]
    [InlineData("client", "midjourney.Client.g.cs")]
    [InlineData("client", "midjourney.Rules.g.cs")]
    [InlineData("tools", "midjourney.Tools.g.cs")]
    public void GeneratedSourceMatchesGolden(string generate, string hintName)
    {
        var result = Harness.Run(Harness.RealSpec(), generate);
        var source = Assert.Single(result.Results[0].GeneratedSources, s => s.HintName == hintName);
        Verify(hintName, source.SourceText.ToString());
    }

    private static void Verify(string name, string actual, [CallerFilePath] string file = "")
    {
        var directory = Path.Combine(Path.GetDirectoryName(file)!, "Golden");
        var verified = Path.Combine(directory, Path.ChangeExtension(name, ".verified.cs"));
        var received = Path.Combine(directory, Path.ChangeExtension(name, ".received.cs"));
        var normalized = Normalize(actual);
        if (Environment.GetEnvironmentVariable("MJMCP_ACCEPT_GOLDEN") == "1")
        {
            File.WriteAllText(verified, normalized);
            File.Delete(received);
            return;
        }

        var expected = File.Exists(verified) ? Normalize(File.ReadAllText(verified)) : string.Empty;
        if (expected != normalized)
        {
            File.WriteAllText(received, normalized);
            Assert.Fail($"{name} differs from {verified}. Compare with {received}; if the change is intended, run the tests with MJMCP_ACCEPT_GOLDEN=1.");
        }

        File.Delete(received);
    }

    private static string Normalize(string text) => text.TrimStart('\uFEFF').Replace("\r\n", "\n", StringComparison.Ordinal);
}
