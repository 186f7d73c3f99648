using System;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.Text;
using MjMcp.Generators.Diagnostics;
using MjMcp.Generators.Emit;
using MjMcp.Generators.Model;
using MjMcp.Generators.Parsing;

namespace MjMcp.Generators;

/// <summary>
/// Reads <c>*.yaml</c> AdditionalFiles (the MjMcp spec) and emits the typed SDK and/or the MCP tools.
/// Pipeline wiring only; parsing, validation and emitting live in their own files.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class SpecGenerator : IIncrementalGenerator
{
    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var parsed = context.AdditionalTextsProvider
            .Where(static text => IsSpec(text.Path))
            .Select(static (text, cancellationToken) => Parse(text, cancellationToken))
            .WithTrackingName(TrackingNames.Parse);

        var diagnostics = parsed
            .SelectMany(static (result, _) => result.Diagnostics)
            .WithTrackingName(TrackingNames.Diagnostics);
        context.RegisterSourceOutput(diagnostics, static (output, diagnostic) => output.ReportDiagnostic(diagnostic.ToDiagnostic()));

        var options = context.AnalyzerConfigOptionsProvider
            .Select(static (provider, _) => GenerationOptions.From(provider.GlobalOptions))
            .WithTrackingName(TrackingNames.Options);

        var models = parsed
            .Where(static result => result.Model is not null)
            .Select(static (result, _) => result.Model!)
            .WithTrackingName(TrackingNames.Model)
            .Combine(options)
            .WithTrackingName(TrackingNames.Emit);
        context.RegisterSourceOutput(models, static (output, pair) => Emit(output, pair.Left, pair.Right));
    }

    private static bool IsSpec(string path) =>
        path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

    private static ParseResult Parse(AdditionalText text, System.Threading.CancellationToken cancellationToken)
    {
        var source = text.GetText(cancellationToken) ?? SourceText.From(string.Empty);
        var (model, diagnostics) = SpecParser.Parse(text.Path, source.ToString());
        return new ParseResult(model, diagnostics);
    }

    private static void Emit(SourceProductionContext output, SpecModel spec, GenerationOptions options)
    {
        // Every number is formatted with the invariant culture by the emitters (a test runs them under
        // a culture with a different minus sign and decimal separator).
        try
        {
            var stem = HintStem(spec.SourcePath);
            if (options.Client)
            {
                Add(output, stem + ".Stages.g.cs", SdkEmitter.Stages(spec, options.Namespace));
                Add(output, stem + ".Requests.g.cs", SdkEmitter.Requests(spec, options.Namespace));
                Add(output, stem + ".Client.g.cs", SdkEmitter.Client(spec, options.Namespace));
                Add(output, stem + ".Rules.g.cs", RulesEmitter.Emit(spec, options.Namespace));
            }

            if (options.Tools)
            {
                Add(output, stem + ".Tools.g.cs", ToolEmitter.Emit(spec, options.Namespace));
            }
        }
#pragma warning disable CA1031 // A throwing generator silently produces nothing: report instead.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            var info = new DiagnosticInfo("MJ0999", spec.SourcePath, default, new EquatableArray<string>(new[] { ex.GetType().Name + ": " + ex.Message }));
            output.ReportDiagnostic(info.ToDiagnostic());
        }
    }

    private static void Add(SourceProductionContext output, string hintName, string source) =>
        output.AddSource(hintName, SourceText.From(source, Encoding.UTF8));

    private static string HintStem(string path)
    {
        var name = path;
        var slash = Math.Max(name.LastIndexOf('/'), name.LastIndexOf('\\'));
        if (slash >= 0)
        {
            name = name.Substring(slash + 1);
        }

        var dot = name.LastIndexOf('.');
        if (dot > 0)
        {
            name = name.Substring(0, dot);
        }

        var builder = new StringBuilder();
        foreach (var c in name)
        {
            builder.Append(char.IsLetterOrDigit(c) || c == '_' || c == '-' ? c : '_');
        }

        return builder.Length == 0 ? "spec" : builder.ToString();
    }
}

/// <summary>The result of parsing one spec: a model when valid, and the diagnostics.</summary>
internal sealed record ParseResult(SpecModel? Model, EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>What the consuming project asks for, from MSBuild properties.</summary>
internal sealed record GenerationOptions(bool Client, bool Tools, string Namespace)
{
    public static GenerationOptions From(AnalyzerConfigOptions options)
    {
        options.TryGetValue("build_property.MjMcpGenerate", out var generate);
        options.TryGetValue("build_property.MjMcpNamespace", out var ns);
        var parts = (generate ?? string.Empty).ToLowerInvariant();
        // Written "client,tools" ("tools" alone is enough): a ';' would start a comment in the analyzer config.
        var tools = parts.Contains("tools");

        // The tools use the rule table and the stage types, so asking for tools brings the client too.
        var client = parts.Length == 0 || parts.Contains("client") || tools;
        return new GenerationOptions(client, tools, string.IsNullOrWhiteSpace(ns) ? "MjMcp" : ns!.Trim());
    }
}

/// <summary>Names of the tracked pipeline steps, for the caching tests.</summary>
public static class TrackingNames
{
    /// <summary>YAML text → model and diagnostics.</summary>
    public const string Parse = "MjMcp.Parse";

    /// <summary>Diagnostics of a spec.</summary>
    public const string Diagnostics = "MjMcp.Diagnostics";

    /// <summary>MSBuild options.</summary>
    public const string Options = "MjMcp.Options";

    /// <summary>Valid models.</summary>
    public const string Model = "MjMcp.Model";

    /// <summary>Model combined with options, the input of every source output.</summary>
    public const string Emit = "MjMcp.Emit";
}
