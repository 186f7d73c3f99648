using Microsoft.CodeAnalysis;

namespace MjMcp.Generators.Tests;

/// <summary>provider.upload: optional, emitted into the rule table, and checked like every other key.</summary>
public sealed class UploadSpecTests
{
    private const string UploadLine = "  upload: { path: /upload, field: image, result: imageURL }\n";

    private static string RulesSource(string yaml)
    {
        var run = Harness.Run(yaml);
        Assert.DoesNotContain(run.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        return run.Results.Single().GeneratedSources.Single(s => s.HintName == "midjourney.Rules.g.cs").SourceText.ToString();
    }

    private static string WithUpload(string upload) => Harness.RealSpec().Replace(UploadLine, "  upload: " + upload + "\n", StringComparison.Ordinal);

    [Fact]
    public void TheShippedSpecDeclaresTheUploadInTheRuleTable()
    {
        Assert.Contains(UploadLine, Harness.RealSpec(), StringComparison.Ordinal);
        var source = RulesSource(Harness.RealSpec());
        Assert.Contains("UploadPath: \"/upload\"", source, StringComparison.Ordinal);
        Assert.Contains("UploadField: \"image\"", source, StringComparison.Ordinal);
        Assert.Contains("UploadResultField: \"imageURL\"", source, StringComparison.Ordinal);
    }

    [Fact]
    public void FieldAndResultDefaultToTheProvidersNames()
    {
        var source = RulesSource(WithUpload("{ path: /files }"));
        Assert.Contains("UploadPath: \"/files\"", source, StringComparison.Ordinal);
        Assert.Contains("UploadField: \"image\"", source, StringComparison.Ordinal);
        Assert.Contains("UploadResultField: \"imageURL\"", source, StringComparison.Ordinal);
    }

    [Fact]
    public void ASpecWithoutUploadStillGeneratesAndCompiles()
    {
        var yaml = Harness.RealSpec().Replace(UploadLine, string.Empty, StringComparison.Ordinal);
        var source = RulesSource(yaml);
        Assert.DoesNotContain("Upload", source, StringComparison.Ordinal);
        var problems = Harness.CompileWithRuntime(yaml).Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Id != "CS1591").ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Theory]
    [InlineData("{ path: upload }", "MJ0009", "must start with '/'")]
    [InlineData("{ field: image }", "MJ0007", "'path'")]
    [InlineData("{ path: /upload, feild: image }", "MJ0002", "did you mean 'field'")]
    [InlineData("/upload", "MJ0008", "upload: { path: /upload")]
    [InlineData("{ path: /upload, result: 'image URL' }", "MJ0009", "without spaces")]
    public void ABadUploadEntryIsAnMjError(string upload, string id, string text)
    {
        var run = Harness.Run(WithUpload(upload));
        var found = Assert.Single(run.Diagnostics, d => d.Id == id);
        Assert.Equal(DiagnosticSeverity.Error, found.Severity);
        Assert.Contains(text, found.GetMessage(), StringComparison.Ordinal);
        Assert.DoesNotContain(run.Diagnostics, d => d.Id == "MJ0999");
        Assert.Contains("upload", found.GetMessage(), StringComparison.Ordinal);
    }
}
