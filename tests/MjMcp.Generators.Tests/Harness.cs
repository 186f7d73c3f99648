using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;

namespace MjMcp.Generators.Tests;

/// <summary>An AdditionalText in memory.</summary>
internal sealed class MemoryText(string path, string text) : AdditionalText
{
    public override string Path { get; } = path;

    public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text, Encoding.UTF8);
}

/// <summary>build_property.* values as the consuming project would set them.</summary>
internal sealed class TestOptionsProvider(Dictionary<string, string> values) : AnalyzerConfigOptionsProvider
{
    public override AnalyzerConfigOptions GlobalOptions { get; } = new Options(values);

    public override AnalyzerConfigOptions GetOptions(SyntaxTree tree) => new Options([]);

    public override AnalyzerConfigOptions GetOptions(AdditionalText textFile) => new Options([]);

    private sealed class Options(Dictionary<string, string> values) : AnalyzerConfigOptions
    {
        public override bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? value) => values.TryGetValue(key, out value);
    }
}

/// <summary>Runs the generator the way the compiler does, with step tracking on.</summary>
internal static class Harness
{
    public static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    public static string RepoRoot([CallerFilePath] string file = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    public static string RealSpec() => File.ReadAllText(Path.Combine(RepoRoot(), "spec", "midjourney.yaml"));

    public static GeneratorDriver Driver(IEnumerable<AdditionalText> texts, string generate = "client", string? ns = null)
    {
        var options = new Dictionary<string, string> { ["build_property.MjMcpGenerate"] = generate };
        if (ns is not null)
        {
            options["build_property.MjMcpNamespace"] = ns;
        }

        return CSharpGeneratorDriver.Create(
            [new SpecGenerator().AsSourceGenerator()],
            texts,
            ParseOptions,
            new TestOptionsProvider(options),
            new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
    }

    public static CSharpCompilation EmptyCompilation(params string[] sources) =>
        CSharpCompilation.Create(
            "Consumer",
            sources.Select(s => CSharpSyntaxTree.ParseText(s, ParseOptions)),
            References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, warningLevel: 9999));

    /// <summary>Runs the generator over one spec text and returns the run result.</summary>
    public static GeneratorDriverRunResult Run(string yaml, string generate = "client", string path = "/spec/midjourney.yaml")
    {
        var driver = Driver([new MemoryText(path, yaml)], generate).RunGenerators(EmptyCompilation());
        return driver.GetRunResult();
    }

    public static ImmutableArray<Diagnostic> Diagnostics(string yaml) => Run(yaml).Diagnostics;

    /// <summary>The framework and the runtime's packages, from the running host (no download).</summary>
    public static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var trusted = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator);
        var local = Directory.EnumerateFiles(AppContext.BaseDirectory, "Microsoft.Extensions.*.dll").Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "Polly*.dll"));
        return trusted.Concat(local)
            .GroupBy(Path.GetFileName, StringComparer.OrdinalIgnoreCase)
            .Select(g => g.First())
            .Where(p => !Path.GetFileName(p).StartsWith("MjMcp", StringComparison.Ordinal))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p))
            .ToArray();
    });

    /// <summary>The hand-written SDK runtime sources, plus its implicit usings.</summary>
    public static IEnumerable<SyntaxTree> RuntimeSources()
    {
        var root = Path.Combine(RepoRoot(), "src", "MjMcp.Sdk");
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "Runtime"), "*.cs").Concat(Directory.EnumerateFiles(Path.Combine(root, "Rules"), "*.cs")).Order(StringComparer.Ordinal))
        {
            yield return CSharpSyntaxTree.ParseText(File.ReadAllText(file), ParseOptions, path: file);
        }

        yield return CSharpSyntaxTree.ParseText(
            "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;",
            ParseOptions,
            path: "GlobalUsings.cs");
    }

    /// <summary>Generated client sources + runtime + extra snippets, compiled; returns every diagnostic.</summary>
    public static ImmutableArray<Diagnostic> CompileWithRuntime(string yaml, params string[] snippets)
    {
        var compilation = EmptyCompilation(snippets).AddSyntaxTrees(RuntimeSources());
        Driver([new MemoryText("/spec/midjourney.yaml", yaml)]).RunGeneratorsAndUpdateCompilation(compilation, out var output, out var generatorDiagnostics);
        Assert.Empty(generatorDiagnostics);
        return output.GetDiagnostics();
    }
}
