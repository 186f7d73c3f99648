namespace MjMcp.Generators.Tests;

/// <summary>
/// Parsing/, Model/, Diagnostics/DiagnosticInfo.cs and Diagnostics/SpecSpan.cs are also compiled into the
/// runtime, which does not reference Microsoft.CodeAnalysis: their code (comments aside) may not name it:
/// without a using or a qualified name no Roslyn type can be reached.
/// </summary>
public sealed class RoslynFreeTests
{
    [Fact]
    public void TheParsingCoreNamesNoRoslynNamespace()
    {
        var root = Path.Combine(Harness.RepoRoot(), "generators", "MjMcp.Generators");
        var files = Directory.EnumerateFiles(Path.Combine(root, "Parsing"), "*.cs", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "Model"), "*.cs", SearchOption.AllDirectories))
            .Append(Path.Combine(root, "Diagnostics", "DiagnosticInfo.cs"))
            .Append(Path.Combine(root, "Diagnostics", "SpecSpan.cs"))
            .ToList();
        Assert.True(files.Count >= 10, string.Join(", ", files));
        Assert.All(files, file =>
        {
            var code = File.ReadAllLines(file).Where(line => !line.TrimStart().StartsWith("//", StringComparison.Ordinal));
            Assert.DoesNotContain(code, line => line.Contains("Microsoft.CodeAnalysis", StringComparison.Ordinal));
        });
    }
}
