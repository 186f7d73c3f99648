using Microsoft.CodeAnalysis;

namespace MjMcp.Generators.Tests;

/// <summary>One test per diagnostic id: the id, a message that names the fix, and the YAML line/column (0-based).</summary>
public sealed class DiagnosticTests
{
    private const string Stages = "stages:\n  grid: { images: 4, summary: A grid. }\n  upscaled: { images: 1, summary: One image. }\n";

    private static Diagnostic Single(string yaml, string id)
    {
        var diagnostics = Harness.Diagnostics(yaml);
        var found = Assert.Single(diagnostics, d => d.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, found.Severity);
        Assert.DoesNotContain(diagnostics, d => d.Id == "MJ0999");
        return found;
    }

    private static void At(Diagnostic diagnostic, int line, int column)
    {
        var span = diagnostic.Location.GetLineSpan();
        Assert.Equal("/spec/midjourney.yaml", span.Path);
        Assert.Equal((line, column), (span.StartLinePosition.Line, span.StartLinePosition.Character));
    }

    [Fact]
    public void MJ0001_YamlSyntaxError()
    {
        var d = Single(Stages + "operations:\n  imagine: { path: /imagine, summary: x, produces: grid\n", "MJ0001");
        Assert.Contains("Fix the YAML", d.GetMessage(), StringComparison.Ordinal);
        Assert.DoesNotContain("(Line:", d.GetMessage(), StringComparison.Ordinal);
        Assert.True(d.Location.GetLineSpan().StartLinePosition.Line >= 3);
    }

    [Theory]
    [InlineData("operations:\n  imagine:\n    path: /imagine\n\tsummary: Make.\n    produces: grid\n", 3, 0)]
    [InlineData("operations:\n  imagine:\n    path: /imagine\n    summary: Make.\n  \tproduces: grid\n", 4, 2)]
    [InlineData("operations:\n  imagine:\n\t\tpath: /imagine\n", 2, 0)]
    [InlineData("operations:\n  imagine:\n    summary:\tMake.\n    params:\n      a: 1\n\t  b: 2\n", 5, 0)]
    public void MJ0001_TabErrorPointsAtTheTab(string yaml, int line, int column)
    {
        var d = Single(yaml, "MJ0001");
        Assert.Contains("tab", d.GetMessage(), StringComparison.OrdinalIgnoreCase);
        At(d, line, column);
    }

    [Fact]
    public void MJ0002_UnknownKeyWithDidYouMean()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    path: /imagine\n    sumary: Make a grid.\n    produces: grid\n", "MJ0002");
        Assert.Contains("'sumary'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'summary'", d.GetMessage(), StringComparison.Ordinal);
        At(d, 6, 4);
    }

    [Fact]
    public void MJ0003_ParentNamesNoStage()
    {
        var d = Single(Stages + "operations:\n  pan:\n    path: /pan\n    summary: Pan.\n    parent: upscale\n    produces: grid\n", "MJ0003");
        Assert.Contains("'upscale' names no stage", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'upscaled'", d.GetMessage(), StringComparison.Ordinal);
        At(d, 7, 12);
    }

    [Fact]
    public void MJ0003_ProducesNamesNoStage()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    path: /imagine\n    summary: Make.\n    produces: grdi\n", "MJ0003");
        At(d, 7, 14);
    }

    [Fact]
    public void MJ0004_DuplicateOperation()
    {
        var d = Single(Stages + "operations:\n  imagine: { path: /imagine, summary: A., produces: grid }\n  imagine: { path: /imagine2, summary: B., produces: grid }\n", "MJ0004");
        Assert.Contains("Duplicate operation 'imagine', first declared at line 5.", d.GetMessage(), StringComparison.Ordinal);
        At(d, 5, 2);
    }

    [Fact]
    public void MJ0004_DuplicateKeyNamesTheFirstLine()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    path: /imagine\n    summary: A.\n    produces: grid\n    path: /again\n", "MJ0004");
        Assert.Contains("Duplicate key 'path', first declared at line 6.", d.GetMessage(), StringComparison.Ordinal);
        At(d, 8, 4);
    }

    [Fact]
    public void MJ0004_DuplicateFormNamesTheFirstLine()
    {
        var yaml = Stages + """
            operations:
              variations:
                path: /variations
                summary: Vary.
                produces: grid
                forms:
                  - name: one
                    parent: grid
                  - name: one
                    parent: upscaled
            """;
        var d = Single(yaml, "MJ0004");
        Assert.Contains("Duplicate form 'one', first declared at line 10.", d.GetMessage(), StringComparison.Ordinal);
        At(d, 11, 14);
    }

    [Fact]
    public void MJ0005_FormsAcceptTheSameParentAndValue()
    {
        var yaml = Stages + """
            operations:
              variations:
                path: /variations
                summary: Vary.
                produces: grid
                forms:
                  - name: one
                    parent: grid
                    params: { index: { type: int, min: 1, max: 4, required: true } }
                  - name: two
                    parent: grid
                    params: { index: { type: int, min: 3, max: 6, required: true } }
            """;
        var d = Single(yaml, "MJ0005");
        Assert.Contains("Forms one and two of operation 'variations' both accept a grid parent", d.GetMessage(), StringComparison.Ordinal);
        At(d, 12, 8);
    }

    [Fact]
    public void MJ0005_NotReportedForDisjointValues()
    {
        var yaml = Stages + """
            operations:
              variations:
                path: /variations
                summary: Vary.
                produces: grid
                forms:
                  - { name: one, parent: grid, params: { index: { type: int, min: 1, max: 4, required: true } } }
                  - { name: two, parent: grid, params: { index: { type: enum, values: [strong, subtle], required: true } } }
            """;
        Assert.Empty(Harness.Diagnostics(yaml));
    }

    [Fact]
    public void MJ0006_UnknownParameterType()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    path: /imagine\n    summary: Make.\n    produces: grid\n    params:\n      prompt: { type: strng, required: true }\n", "MJ0006");
        Assert.Contains("unknown type 'strng'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'string'", d.GetMessage(), StringComparison.Ordinal);
        At(d, 9, 22);
    }

    [Fact]
    public void MJ0007_MissingPath()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    summary: Make.\n    produces: grid\n", "MJ0007");
        Assert.Contains("missing required key 'path'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("path: /imagine", d.GetMessage(), StringComparison.Ordinal);
        At(d, 5, 4);
    }

    [Fact]
    public void MJ0008_WrongNodeKind()
    {
        var d = Single(Stages + "operations:\n  imagine:\n    path: /imagine\n    summary: Make.\n    produces: grid\n    params: [prompt]\n", "MJ0008");
        Assert.Contains("must be a mapping, not a list", d.GetMessage(), StringComparison.Ordinal);
        At(d, 8, 12);
    }

    [Fact]
    public void MJ0009_InvalidValue()
    {
        var d = Single(Stages + "operations:\n  upscale:\n    path: /upscale\n    summary: Pick.\n    parent: grid\n    produces: upscaled\n    params:\n      index: { type: int, min: 4, max: 1 }\n", "MJ0009");
        Assert.Contains("max is below min 4", d.GetMessage(), StringComparison.Ordinal);
        At(d, 10, 39);
    }

    [Fact]
    public void MJ0010_UnknownOperationInParentRule()
    {
        var d = Single(Stages + "operations:\n  imagine: { path: /imagine, summary: A., produces: grid }\n  reroll:\n    path: /reroll\n    summary: Again.\n    parent: { stage: grid, operations: [imagin] }\n    produces: grid\n", "MJ0010");
        Assert.Contains("'imagin'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("did you mean 'imagine'", d.GetMessage(), StringComparison.Ordinal);
        At(d, 8, 40);
    }

    [Fact]
    public void MJ0010_PointsAtTheOffendingListItem()
    {
        var d = Single(Stages + "operations:\n  imagine: { path: /imagine, summary: A., produces: grid }\n  reroll:\n    path: /reroll\n    summary: Again.\n    parent:\n      stage: grid\n      operations:\n        - imagine\n        - rerol\n    produces: grid\n", "MJ0010");
        Assert.Contains("'rerol'", d.GetMessage(), StringComparison.Ordinal);
        At(d, 12, 10);
        Assert.Equal(12, d.Location.GetLineSpan().EndLinePosition.Line);
        Assert.Equal(15, d.Location.GetLineSpan().EndLinePosition.Character);
    }

    [Fact]
    public void MJ0011_NameCollision()
    {
        var d = Single(Stages + "operations:\n  upscale-1x: { path: /a, summary: A., produces: grid }\n  upscale_1x: { path: /b, summary: B., produces: grid }\n", "MJ0011");
        Assert.Contains("Upscale1xAsync", d.GetMessage(), StringComparison.Ordinal);
        At(d, 5, 2);
    }

    [Fact]
    public void GoodSpecStillGeneratesWhenAnotherIsBad()
    {
        var driver = Harness.Driver([new MemoryText("/a/good.yaml", Harness.RealSpec()), new MemoryText("/b/bad.yaml", "operations: [")])
            .RunGenerators(Harness.EmptyCompilation());
        var result = driver.GetRunResult();
        Assert.Contains(result.Diagnostics, d => d.Id == "MJ0001" && d.Location.GetLineSpan().Path == "/b/bad.yaml");
        Assert.Contains(result.Results[0].GeneratedSources, s => s.HintName == "good.Client.g.cs");
        Assert.DoesNotContain(result.Results[0].GeneratedSources, s => s.HintName.StartsWith("bad.", StringComparison.Ordinal));
    }

    [Fact]
    public void RealSpecHasNoDiagnostics() => Assert.Empty(Harness.Diagnostics(Harness.RealSpec()));
}
