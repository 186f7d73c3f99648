using MjMcp.Generators.Diagnostics;
using MjMcp.Generators.Emit;
using MjMcp.Generators.Model;
using MjMcp.Generators.Parsing;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>A spec that could not be loaded: every MJ diagnostic, as "file(line,col): MJ####: message".</summary>
public sealed class SpecLoadException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SpecLoadException(string message, IReadOnlyList<string> errors)
        : base(message) => Errors = errors;

    /// <summary>Creates the exception.</summary>
    public SpecLoadException()
        : this("The spec could not be loaded.", [])
    {
    }

    /// <summary>Creates the exception.</summary>
    public SpecLoadException(string message)
        : this(message, [])
    {
    }

    /// <summary>Creates the exception.</summary>
    public SpecLoadException(string message, Exception innerException)
        : base(message, innerException) => Errors = [];

    /// <summary>The diagnostics, one per line.</summary>
    public IReadOnlyList<string> Errors { get; }
}

/// <summary>
/// Reads a spec YAML at run time into the same rule table the generator emits (for <c>mjmcp sandbox --spec</c>).
/// It runs the generator's own parser — its Roslyn-free files are compiled into this assembly — so the rules,
/// the diagnostics and their positions are exactly those of a build.
/// </summary>
public static class SpecLoader
{
    /// <summary>Loads the spec at <paramref name="path"/>; throws <see cref="SpecLoadException"/> listing every MJ error.</summary>
    public static SpecRules Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SpecLoadException($"Cannot read the spec '{path}': {ex.Message}", ex);
        }

        return Parse(path, text);
    }

    /// <summary>Parses spec text (path is only for messages); throws <see cref="SpecLoadException"/> listing every MJ error.</summary>
    public static SpecRules Parse(string path, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var (model, diagnostics) = SpecParser.Parse(path, text);
        if (diagnostics.Count > 0 || model is null)
        {
            var errors = diagnostics
                .Select(d => $"{d.FilePath}({d.Span.StartLine + 1},{d.Span.StartColumn + 1}): {d.Id}: {DiagnosticMessages.Format(d)}")
                .ToList();
            throw new SpecLoadException($"The spec '{path}' has {errors.Count} error(s):\n" + string.Join("\n", errors), errors);
        }

        return ToRules(model);
    }

    // The same mapping as the generator's RulesEmitter, over objects instead of source text.
    private static SpecRules ToRules(SpecModel spec)
    {
        var p = spec.Provider;
        return new SpecRules(
            Provider: new ProviderRule(
                Name: p.Name,
                BaseUrl: p.BaseUrl,
                AuthHeader: p.AuthHeader,
                AuthScheme: p.AuthScheme,
                FetchPath: p.FetchPath,
                FetchManyPath: p.FetchManyPath,
                FetchManyMin: p.FetchManyMin,
                FetchManyMax: p.FetchManyMax,
                AccountPath: p.AccountPath,
                Statuses: [.. p.Statuses.Select(s => new StatusRule(s.State, [.. s.Values]))],
                CommonParams: [.. p.CommonParams.Select(Param)],
                UploadPath: p.Upload?.Path,
                UploadField: p.Upload?.Field,
                UploadResultField: p.Upload?.ResultField),
            Stages: [.. spec.Stages.Select(s => new StageRule(s.Name, s.ClassName, s.Images, s.Summary))],
            Results: [.. spec.Results.Select(r => new ResultRule(r.Name, r.ClassName, r.Summary, [.. r.Fields.Select(f => new ResultFieldRule(f.Name, f.Wire, f.Kind == FieldKind.StringList, f.Summary))]))],
            Operations: [.. spec.Operations.Select(o => new OperationRule(
                Name: o.Name,
                ToolName: o.ToolName,
                MethodName: o.PascalName + "Async",
                Path: o.Path,
                TaskTypes: [.. o.TaskTypes],
                Credits: o.Credits,
                Summary: o.Summary,
                Produces: o.Produces,
                ProducesStage: o.ProducesStage,
                Forms: [.. o.Forms.Select(f => new FormRule(
                    f.Name,
                    f.Summary,
                    f.Parent is null ? null : new ParentRule([.. f.Parent.Stages], [.. f.Parent.Operations], f.Parent.Field),
                    [.. f.Params.Select(Param)]))],
                CreditsBy: o.CreditsBy is null ? null : new CreditRule(o.CreditsBy.Param, o.CreditsBy.Wire, [.. o.CreditsBy.Values.Select(v => new CreditValue(v.Value, v.Credits))])))]);
    }

    private static ParamRule Param(ParamModel p) => new(
        Name: p.Name,
        Wire: p.Wire,
        Kind: Enum.Parse<MjMcp.Rules.ParamKind>(p.Kind.ToString()),
        Required: p.Required,
        Secret: p.Secret,
        Summary: SdkEmitter.ParamDoc(p),
        Default: p.Default,
        Values: [.. p.Values.Select(v => v.Wire)],
        Min: p.Min,
        Max: p.Max,
        MinLength: p.MinLength,
        MaxLength: p.MaxLength,
        MinItems: p.MinItems,
        MaxItems: p.MaxItems,
        Pattern: p.Pattern,
        WireAsString: p.WireAsString);
}
