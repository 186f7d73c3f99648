using Microsoft.CodeAnalysis;

namespace MjMcp.Generators.Tests;

/// <summary>Per-value credits (credits: { by: type, values: { 2x: 1, 4x: 2 } }): generated into the rule table, and MJ0012 for every mistake, at its line.</summary>
public sealed class CreditsSpecTests
{
    private const string Stages = "stages:\n  grid: { images: 4, summary: A grid. }\n  upscaled: { images: 1, summary: One image. }\n";

    // Line 5 (0-based) is "credits:" of the operation; the forms follow it.
    private static string Highres(string credits, string urlTypeParam = "type: { type: enum, required: true, values: [2x, 4x] }") => Stages + $$"""
        operations:
          upscale-highres:
            path: /upscale-highres
            summary: Upscale.
            credits: {{credits}}
            produces: upscaled
            forms:
              - name: grid
                parent: grid
                params:
                  index: { type: int, min: 1, max: 4, required: true }
                  type: { type: enum, required: true, values: [2x, 4x] }
              - name: url
                params:
                  image_url: { type: url, required: true }
                  {{urlTypeParam}}

        """;

    private static Diagnostic Single(string yaml)
    {
        var diagnostics = Harness.Diagnostics(yaml);
        var found = Assert.Single(diagnostics);
        Assert.Equal("MJ0012", found.Id);
        Assert.Equal(DiagnosticSeverity.Error, found.Severity);
        return found;
    }

    private static (int Line, int Column) Where(Diagnostic d) =>
        (d.Location.GetLineSpan().StartLinePosition.Line, d.Location.GetLineSpan().StartLinePosition.Character);

    [Fact]
    public void PerValueCreditsReachTheRuleTableAndTheDocs()
    {
        var run = Harness.Run(Highres("{ by: type, values: { 2x: 1, 4x: 2 } }"));
        Assert.Empty(run.Diagnostics);
        var sources = run.Results.Single().GeneratedSources;
        var rules = sources.Single(s => s.HintName.EndsWith("Rules.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("Credits: 2,", rules, StringComparison.Ordinal);
        Assert.Contains("CreditsBy: new(\"type\", \"type\", [new(\"2x\", 1), new(\"4x\", 2)])", rules, StringComparison.Ordinal);
        var client = sources.Single(s => s.HintName.EndsWith("Client.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("POST /upscale-highres, 1 credit with type 2x, 2 credits with type 4x.", client, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainCreditsStayAPlainNumber()
    {
        var run = Harness.Run(Highres("3"));
        Assert.Empty(run.Diagnostics);
        var rules = run.Results.Single().GeneratedSources.Single(s => s.HintName.EndsWith("Rules.g.cs", StringComparison.Ordinal)).SourceText.ToString();
        Assert.Contains("Credits: 3,", rules, StringComparison.Ordinal);
        Assert.DoesNotContain("CreditsBy", rules, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownParameterIsNamedWithDidYouMean()
    {
        var d = Single(Highres("{ by: typ, values: { 2x: 1, 4x: 2 } }"));
        Assert.Contains("Credits of operation 'upscale-highres': 'typ' is not a parameter of it (did you mean 'type'?)", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("Name one of its enum parameters: type", d.GetMessage(), StringComparison.Ordinal);
        Assert.Equal((7, 19), Where(d)); // at "typ"
    }

    [Fact]
    public void ValueNotAmongTheEnumValuesIsReportedAtTheValue()
    {
        var d = Single(Highres("{ by: type, values: { 2x: 1, 4x: 2, 8x: 3 } }"));
        Assert.Contains("'8x' is not a value of parameter 'type'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("Use its values (2x, 4x), or add '8x' to the parameter's values", d.GetMessage(), StringComparison.Ordinal);
        Assert.Equal((7, 49), Where(d)); // at "8x"
    }

    [Fact]
    public void MissingValueNamesTheValueAndTheLineToAdd()
    {
        var d = Single(Highres("{ by: type, values: { 2x: 1 } }"));
        Assert.Contains("no credits for value '4x' of parameter 'type'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("Add '4x: <credits>' under credits.values", d.GetMessage(), StringComparison.Ordinal);
        Assert.Equal(7, Where(d).Line);
    }

    [Fact]
    public void AFormWithoutTheParameterHasNoPrice()
    {
        var d = Single(Highres("{ by: type, values: { 2x: 1, 4x: 2 } }", "size: { type: string }"));
        Assert.Contains("its form 'url' has no parameter 'type'", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("Add 'type' to every form", d.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void AnOptionalParameterWithoutDefaultHasNoPrice()
    {
        var d = Single(Highres("{ by: type, values: { 2x: 1, 4x: 2 } }", "type: { type: enum, values: [2x, 4x] }"));
        Assert.Contains("is optional and has no default", d.GetMessage(), StringComparison.Ordinal);
        Assert.Contains("Make it 'required: true' or give it a 'default:'", d.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void ANonEnumParameterIsRefused()
    {
        var d = Single(Highres("{ by: index, values: { 1: 1 } }"));
        Assert.Contains("parameter 'index' is not an enum", d.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void MissingByOrValuesIsAMissingKey()
    {
        var d = Assert.Single(Harness.Diagnostics(Highres("{ values: { 2x: 1, 4x: 2 } }")));
        Assert.Equal("MJ0007", d.Id);
        Assert.Contains("missing required key 'by'. Add 'by: type'", d.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void NegativeCreditsAreAnInvalidValue()
    {
        var d = Assert.Single(Harness.Diagnostics(Highres("{ by: type, values: { 2x: 1, 4x: -2 } }")));
        Assert.Equal("MJ0009", d.Id);
        Assert.Contains("credits are zero or more", d.GetMessage(), StringComparison.Ordinal);
    }
}
