using Microsoft.CodeAnalysis;
using MjMcp.Generators.Model;
using MjMcp.Generators.Parsing;

namespace MjMcp.Generators.Tests;

/// <summary>
/// Error recovery: a mistake inside one operation drops only that operation, so the consumer sees the one MJ
/// error and the rest of the client still compiles; mistakes elsewhere still give no model.
/// </summary>
public sealed class RecoveryTests
{
    private const string BadZoom = """

          zoom:
            path: /zoom
            summary: Zoom into an upscaled image.
            parent: upscaled
            produces: grid
            params:
              factor: { type: numbr, min: 1, max: 2, required: true }
        """;

    private static (SpecModel? Model, EquatableArray<Diagnostics.DiagnosticInfo> Diagnostics) Parse(string yaml) => SpecParser.Parse("/spec/midjourney.yaml", yaml);

    private static List<string> Names(SpecModel? model) => Assert.IsType<SpecModel>(model).Operations.Select(o => o.Name).ToList();

    [Fact]
    public void ABadAddedOperationLeavesTheOthersInTheModel()
    {
        var good = Names(Parse(Harness.RealSpec()).Model);
        var (model, diagnostics) = Parse(Harness.RealSpec() + BadZoom);
        var d = Assert.Single(diagnostics);
        Assert.Equal("MJ0006", d.Id);
        Assert.Equal(good, Names(model));
        Assert.DoesNotContain("zoom", Names(model));
    }

    [Fact]
    public void ABadAddedOperationStillEmitsAClientThatCompiles()
    {
        var compilation = Harness.EmptyCompilation("""
            using MjMcp;
            using System.Threading.Tasks;
            public static class Snippet
            {
                public static async Task Run(MidjourneyClient mj)
                {
                    GridTask g = await mj.ImagineAsync("a lighthouse at dusk").WaitAsync();
                    UpscaledTask pick = await mj.Upscale1xAsync(g, index: 2).WaitAsync();
                    GridTask wider = await mj.PanAsync(pick, PanDirection.Left).WaitAsync();
                    PendingTask<GridTask> again = await mj.RerollAsync(g);
                }
            }
            """).AddSyntaxTrees(Harness.RuntimeSources());
        Harness.Driver([new MemoryText("/spec/midjourney.yaml", Harness.RealSpec() + BadZoom)])
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        var mj = Assert.Single(generatorDiagnostics);
        Assert.Equal("MJ0006", mj.Id);
        Assert.Equal(DiagnosticSeverity.Error, mj.Severity);
        var problems = output.GetDiagnostics().Where(x => x.Severity >= DiagnosticSeverity.Warning && x.Id != "CS1591").ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void OnlyTheMjErrorReachesTheConsumerAndTheBadOperationIsAbsent()
    {
        var result = Harness.Run(Harness.RealSpec() + BadZoom);
        Assert.Equal("MJ0006", Assert.Single(result.Diagnostics).Id);
        var client = result.Results[0].GeneratedSources.Single(s => s.HintName.EndsWith("Client.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("ImagineAsync", client, StringComparison.Ordinal);
        Assert.DoesNotContain("ZoomAsync", client, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    parent: upscaled\n    produces: grid\n    params:\n      direction:", "    parent: upscaledd\n    produces: grid\n    params:\n      direction:", "MJ0003", "pan")]
    [InlineData("    path: /pan\n", "    path: /pan\n    colour: red\n", "MJ0002", "pan")]
    [InlineData("    path: /pan\n", "    path: pan\n", "MJ0009", "pan")]
    [InlineData("      zoom_ratio:\n        type: number\n        required: true\n        min: 1\n        max: 2\n", "      zoom_ratio:\n        type: number\n        required: true\n        min: 3\n        max: 2\n", "MJ0009", "outpaint")]
    [InlineData("    task_type: shorten\n", "    task_type: shorten\n    task_type: again\n", "MJ0004", "shorten")]
    public void AnErrorInsideOneOperationDropsOnlyThatOperation(string find, string replace, string id, string operation)
    {
        var spec = Harness.RealSpec();
        Assert.Contains(find, spec, StringComparison.Ordinal);
        var (model, diagnostics) = Parse(spec.Replace(find, replace, StringComparison.Ordinal));
        Assert.Equal(id, Assert.Single(diagnostics).Id);
        var expected = Names(Parse(spec).Model).Where(n => n != operation).ToList();
        Assert.Equal(expected, Names(model));
    }

    [Fact]
    public void AnUnknownOperationInAParentRuleDropsThatOperation()
    {
        var spec = Harness.RealSpec().Replace("operations: [imagine, reroll]", "operations: [imagine, rerol]", StringComparison.Ordinal);
        var (model, diagnostics) = Parse(spec);
        Assert.Equal("MJ0010", Assert.Single(diagnostics).Id);
        Assert.DoesNotContain("reroll", Names(model));
        Assert.Contains("imagine", Names(model));
    }

    [Fact]
    public void ParentRulesForgetDroppedOperations()
    {
        // imagine is dropped; reroll still accepts grids made by reroll.
        var spec = Harness.RealSpec().Replace("    task_type: imagine\n", "    task_type: imagine\n    colour: red\n", StringComparison.Ordinal);
        var (model, diagnostics) = Parse(spec);
        Assert.Equal("MJ0002", Assert.Single(diagnostics).Id);
        Assert.DoesNotContain("imagine", Names(model));
        var reroll = model!.Operations.Single(o => o.Name == "reroll");
        Assert.Equal(["reroll"], reroll.Forms[0].Parent!.Operations.ToList());
    }

    [Fact]
    public void AnOperationWhoseParentRuleNamesOnlyDroppedOperationsIsDropped()
    {
        var spec = Harness.RealSpec()
            .Replace("operations: [imagine, reroll]", "operations: [imagine]", StringComparison.Ordinal)
            .Replace("    task_type: imagine\n", "    task_type: imagine\n    colour: red\n", StringComparison.Ordinal)
            + "\n  remix:\n    path: /remix\n    summary: Remix a reroll.\n    parent: { stage: grid, operations: [reroll] }\n    produces: grid\n";
        var (model, diagnostics) = Parse(spec);
        Assert.Equal("MJ0002", Assert.Single(diagnostics).Id);
        Assert.DoesNotContain("imagine", Names(model));
        Assert.DoesNotContain("reroll", Names(model));
        Assert.DoesNotContain("remix", Names(model));
        Assert.Contains("upscale-1x", Names(model));
    }

    [Fact]
    public void ADuplicateOperationKeepsTheFirst()
    {
        var (model, diagnostics) = Parse(Harness.RealSpec() + "\n  shorten:\n    path: /shorten2\n    summary: Again.\n    produces: shortened\n");
        Assert.Equal("MJ0004", Assert.Single(diagnostics).Id);
        Assert.Equal("/shorten", model!.Operations.Single(o => o.Name == "shorten").Path);
    }

    [Theory]
    [InlineData("    images: 4\n", "    images: 40\n")]
    [InlineData("  fetch: /fetch\n", "  fetch: fetch\n")]
    [InlineData("    max: 4\n    wire_type: string\n", "    max: 4\n    wire_type: int\n")]
    [InlineData("    class: SeedResult\n", "    class: Seed Result\n")]
    [InlineData("  grid:\n    class: GridTask\n", "  grid:\n    colour: red\n    class: GridTask\n")]
    public void AnErrorOutsideOperationsGivesNoModel(string find, string replace)
    {
        var spec = Harness.RealSpec();
        Assert.Contains(find, spec, StringComparison.Ordinal);
        var (model, diagnostics) = Parse(spec.Replace(find, replace, StringComparison.Ordinal));
        Assert.NotEmpty(diagnostics);
        Assert.Null(model);
    }

    [Fact]
    public void ATypesSectionAfterOperationsIsStillFatal()
    {
        var yaml = "stages:\n  grid: { images: 4, summary: A grid. }\noperations:\n  imagine:\n    path: /imagine\n    summary: Make.\n    produces: grid\n    params:\n      index: { type: idx }\ntypes:\n  idx: { type: int, min: 4, max: 1 }\n";
        var (model, diagnostics) = Parse(yaml);
        Assert.Contains(diagnostics, d => d.Id == "MJ0009");
        Assert.Null(model);
    }

    [Fact]
    public void AYamlSyntaxErrorGivesNoModel()
    {
        var (model, diagnostics) = Parse(Harness.RealSpec() + "\n  zoom: { path: /zoom\n");
        Assert.Equal("MJ0001", Assert.Single(diagnostics).Id);
        Assert.Null(model);
    }

    [Fact]
    public void TheGeneratorEmitsOnlyFromTheGoodOperations()
    {
        var result = Harness.Run(Harness.RealSpec() + BadZoom, "client;tools");
        Assert.Equal(5, result.Results[0].GeneratedSources.Length);
        var tools = result.Results[0].GeneratedSources.Single(s => s.HintName.EndsWith("Tools.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("Name: \"imagine\"", tools, StringComparison.Ordinal);
        Assert.DoesNotContain("Name: \"zoom\"", tools, StringComparison.Ordinal);
    }
}
