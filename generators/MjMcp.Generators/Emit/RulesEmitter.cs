using System.Linq;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Emit;

/// <summary>
/// Emits <c>MidjourneySpec</c>: the stage-rule table as data (operation form → parent stages, parameter
/// rules, product), which the hand-written runtime and the MCP server check before any request.
/// </summary>
internal static class RulesEmitter
{
    private const string Rules = "global::MjMcp.Rules";

    public static string Emit(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        w.Summary("The spec as data: provider facts, stages, results and the parent rule of every operation form.");
        w.Open("public static partial class MidjourneySpec");
        foreach (var operation in spec.Operations)
        {
            w.Summary("The rules of " + operation.Name + ": " + operation.Summary);
            w.Line("public static " + Rules + ".OperationRule " + operation.PascalName + " { get; } = new(");
            w.Line("    Name: " + SourceWriter.Literal(operation.Name) + ",");
            w.Line("    ToolName: " + SourceWriter.Literal(operation.ToolName) + ",");
            w.Line("    MethodName: " + SourceWriter.Literal(operation.PascalName + "Async") + ",");
            w.Line("    Path: " + SourceWriter.Literal(operation.Path) + ",");
            w.Line("    TaskTypes: " + Strings(operation.TaskTypes) + ",");
            w.Line("    Credits: " + SourceWriter.Number(operation.Credits) + ",");
            w.Line("    Summary: " + SourceWriter.Literal(operation.Summary) + ",");
            w.Line("    Produces: " + SourceWriter.Literal(operation.Produces) + ",");
            w.Line("    ProducesStage: " + (operation.ProducesStage ? "true" : "false") + ",");
            w.Line("    Forms: [");
            foreach (var form in operation.Forms)
            {
                w.Line("        new(");
                w.Line("            Name: " + SourceWriter.Literal(form.Name) + ",");
                w.Line("            Summary: " + SourceWriter.Literal(form.Summary) + ",");
                w.Line("            Parent: " + Parent(form.Parent) + ",");
                w.Line("            Params: [");
                foreach (var param in form.Params)
                {
                    w.Line("                " + Param(param) + ",");
                }

                w.Line("            ]),");
            }

            if (operation.CreditsBy is { } by)
            {
                w.Line("    ],");
                w.Line("    CreditsBy: new(" + SourceWriter.Literal(by.Param) + ", " + SourceWriter.Literal(by.Wire) + ", [" +
                    string.Join(", ", by.Values.Select(v => "new(" + SourceWriter.Literal(v.Value) + ", " + SourceWriter.Number(v.Credits) + ")")) + "]));");
            }
            else
            {
                w.Line("    ]);");
            }

            w.Line();
        }

        var provider = spec.Provider;
        w.Summary("The whole table.");
        w.Line("public static " + Rules + ".SpecRules Rules { get; } = new(");
        w.Line("    Provider: new(");
        w.Line("        Name: " + SourceWriter.Literal(provider.Name) + ",");
        w.Line("        BaseUrl: " + SourceWriter.Literal(provider.BaseUrl) + ",");
        w.Line("        AuthHeader: " + SourceWriter.Literal(provider.AuthHeader) + ",");
        w.Line("        AuthScheme: " + SourceWriter.Literal(provider.AuthScheme) + ",");
        w.Line("        FetchPath: " + SourceWriter.Literal(provider.FetchPath) + ",");
        w.Line("        FetchManyPath: " + SourceWriter.Literal(provider.FetchManyPath) + ",");
        w.Line("        FetchManyMin: " + SourceWriter.Number(provider.FetchManyMin) + ",");
        w.Line("        FetchManyMax: " + SourceWriter.Number(provider.FetchManyMax) + ",");
        w.Line("        AccountPath: " + SourceWriter.Literal(provider.AccountPath) + ",");
        w.Line("        Statuses: [" + string.Join(", ", provider.Statuses.Select(s => "new(" + SourceWriter.Literal(s.State) + ", " + Strings(s.Values) + ")")) + "],");
        w.Line("        CommonParams: [");
        foreach (var param in provider.CommonParams)
        {
            w.Line("            " + Param(param) + ",");
        }

        if (provider.Upload is { } upload)
        {
            w.Line("        ],");
            w.Line("        UploadPath: " + SourceWriter.Literal(upload.Path) + ",");
            w.Line("        UploadField: " + SourceWriter.Literal(upload.Field) + ",");
            w.Line("        UploadResultField: " + SourceWriter.Literal(upload.ResultField) + "),");
        }
        else
        {
            w.Line("        ]),");
        }

        w.Line("    Stages: [" + string.Join(", ", spec.Stages.Select(s => "new(" + SourceWriter.Literal(s.Name) + ", " + SourceWriter.Literal(s.ClassName) + ", " + SourceWriter.Number(s.Images) + ", " + SourceWriter.Literal(s.Summary) + ")")) + "],");
        w.Line("    Results: [" + string.Join(", ", spec.Results.Select(r => "new(" + SourceWriter.Literal(r.Name) + ", " + SourceWriter.Literal(r.ClassName) + ", " + SourceWriter.Literal(r.Summary) + ", [" +
            string.Join(", ", r.Fields.Select(f => "new(" + SourceWriter.Literal(f.Name) + ", " + SourceWriter.Literal(f.Wire) + ", " + (f.Kind == FieldKind.StringList ? "true" : "false") + ", " + SourceWriter.Literal(f.Summary) + ")")) + "])")) + "],");
        w.Line("    Operations: [" + string.Join(", ", spec.Operations.Select(o => o.PascalName)) + "]);");
        w.Line();
        w.Summary("Turns a finished /fetch reply into its stage or result type (GridTask, SeedResult, …), or null when the task type is unknown.");
        w.Open("public static object? CreateFinished(global::MjMcp.FetchResponse response)");
        w.Line("global::System.ArgumentNullException.ThrowIfNull(response);");
        w.Open("return Rules.OperationOfTaskType(response.TaskType)?.Produces switch");
        foreach (var stage in spec.Stages)
        {
            w.Line(SourceWriter.Literal(stage.Name) + " => " + stage.ClassName + ".FromFetch(response),");
        }

        foreach (var result in spec.Results)
        {
            w.Line(SourceWriter.Literal(result.Name) + " => " + result.ClassName + ".FromFetch(response),");
        }

        w.Line("_ => null,");
        w.Close(";");
        w.Close();
        w.Close();
        return w.ToString();
    }

    private static string Parent(ParentModel? parent) =>
        parent is null ? "null" : "new(" + Strings(parent.Stages) + ", " + Strings(parent.Operations) + ", " + SourceWriter.Literal(parent.Field) + ")";

    private static string Param(ParamModel p) =>
        "new(Name: " + SourceWriter.Literal(p.Name) +
        ", Wire: " + SourceWriter.Literal(p.Wire) +
        ", Kind: " + Rules + ".ParamKind." + p.Kind +
        ", Required: " + (p.Required ? "true" : "false") +
        ", Secret: " + (p.Secret ? "true" : "false") +
        ", Summary: " + SourceWriter.Literal(SdkEmitter.ParamDoc(p)) +
        ", Default: " + SourceWriter.Literal(p.Default) +
        ", Values: " + Strings(p.Values.Select(v => v.Wire)) +
        ", Min: " + SourceWriter.Number(p.Min) +
        ", Max: " + SourceWriter.Number(p.Max) +
        ", MinLength: " + SourceWriter.Number(p.MinLength) +
        ", MaxLength: " + SourceWriter.Number(p.MaxLength) +
        ", MinItems: " + SourceWriter.Number(p.MinItems) +
        ", MaxItems: " + SourceWriter.Number(p.MaxItems) +
        ", Pattern: " + SourceWriter.Literal(p.Pattern) +
        ", WireAsString: " + (p.WireAsString ? "true" : "false") + ")";

    private static string Strings(System.Collections.Generic.IEnumerable<string> values) =>
        "[" + string.Join(", ", values.Select(SourceWriter.Literal)) + "]";
}
