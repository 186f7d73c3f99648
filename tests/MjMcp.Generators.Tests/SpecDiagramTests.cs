using MjMcp.Generators.Emit;
using MjMcp.Generators.Model;
using MjMcp.Generators.Parsing;

namespace MjMcp.Generators.Tests;

/// <summary>
/// The root README's workflow diagram is the spec's: MermaidEmitter over spec/midjourney.yaml must equal the
/// block between the spec-diagram markers. Set MJMCP_UPDATE_DIAGRAM=1 to rewrite the block instead.
/// </summary>
public sealed class SpecDiagramTests
{
    private const string StartMarker = "<!-- spec-diagram:start -->";
    private const string EndMarker = "<!-- spec-diagram:end -->";

    /// <summary>The folder that holds MjMcp.sln, found by walking up from the test's output folder.</summary>
    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MjMcp.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("MjMcp.sln not found above " + AppContext.BaseDirectory);
    }

    private static SpecModel Model(string yaml)
    {
        var (model, diagnostics) = SpecParser.Parse("spec/midjourney.yaml", yaml);
        Assert.Empty(diagnostics);
        return Assert.IsType<SpecModel>(model);
    }

    private static string Block(string diagram) => "```mermaid\n" + diagram + "```\n";

    [Fact]
    public void ReadmeDiagramMatchesTheSpec()
    {
        var root = RepoRoot();
        var expected = Block(MermaidEmitter.Emit(Model(File.ReadAllText(Path.Combine(root, "spec", "midjourney.yaml")))));
        var readmePath = Path.Combine(root, "README.md");
        var readme = File.ReadAllText(readmePath).Replace("\r\n", "\n", StringComparison.Ordinal);
        var start = readme.IndexOf(StartMarker, StringComparison.Ordinal);
        var end = readme.IndexOf(EndMarker, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"README.md needs a block between {StartMarker} and {EndMarker}.");
        var contentStart = start + StartMarker.Length + 1;
        var actual = readme.Substring(contentStart, end - contentStart);
        if (actual == expected)
        {
            return;
        }

        if (Environment.GetEnvironmentVariable("MJMCP_UPDATE_DIAGRAM") == "1")
        {
            File.WriteAllText(readmePath, readme.Substring(0, contentStart) + expected + readme.Substring(end));
            return;
        }

        Assert.Fail(
            "The workflow diagram in README.md is not the one spec/midjourney.yaml gives. Run the tests with "
            + "MJMCP_UPDATE_DIAGRAM=1 (MJMCP_UPDATE_DIAGRAM=1 dotnet test tests/MjMcp.Generators.Tests --filter SpecDiagramTests) "
            + "to rewrite the block, then review and commit it.\nExpected:\n" + expected + "\nActual:\n" + actual);
    }

    [Fact]
    public void ChangingTheSpecChangesTheDiagram()
    {
        var before = MermaidEmitter.Emit(Model(Harness.RealSpec()));
        var after = MermaidEmitter.Emit(Model(Harness.RealSpec() + RegenerationTests.ZoomOperation));
        Assert.NotEqual(before, after);
        Assert.DoesNotContain("\"zoom\"", before, StringComparison.Ordinal);
        Assert.Contains("<br/>pan<br/>zoom\"| stage_grid\n", after, StringComparison.Ordinal);
    }

    [Fact]
    public void DiagramShowsStagesResultsFormsAndParentRules()
    {
        var diagram = MermaidEmitter.Emit(Model(Harness.RealSpec()));
        Assert.StartsWith("flowchart LR\n    start((start))\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    stage_grid[\"grid (GridTask)\"]\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    result_seed[/\"seed (SeedResult)\"/]\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    start -->|\"imagine<br/>blend\"| stage_grid\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    stage_grid -->|\"reroll (made by imagine/reroll)<br/>variations 1-4\"| stage_grid\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    stage_upscaled -->|\"variations strong/subtle<br/>outpaint<br/>inpaint<br/>pan\"| stage_grid\n", diagram, StringComparison.Ordinal);
        Assert.Contains("    stage_hires -->|\"seed\"| result_seed\n", diagram, StringComparison.Ordinal);
        Assert.Equal(1, diagram.Split('\n').Count(l => l.Contains("((start))", StringComparison.Ordinal)));
        Assert.DoesNotContain(" \n", diagram, StringComparison.Ordinal);
    }

    [Fact]
    public void DiagramIsDeterministicAndCultureInvariant()
    {
        var original = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
            var invariant = MermaidEmitter.Emit(Model(Harness.RealSpec()));
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("ar-SA");
            Assert.Equal(invariant, MermaidEmitter.Emit(Model(Harness.RealSpec())));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = original;
        }
    }
}
