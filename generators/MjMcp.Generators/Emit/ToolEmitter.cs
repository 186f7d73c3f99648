using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Emit;

/// <summary>
/// Emits the MCP server's tool definitions: one per operation, with a name, title, a description
/// that states the parent it needs and what it returns, annotations, and a complete JSON input
/// schema (required, enum, ranges). The schema is written here as a constant so the server needs
/// no reflection (NativeAOT) and every limit of the spec reaches the agent.
/// </summary>
internal static class ToolEmitter
{
    public static string Emit(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        w.Summary("The MCP tools generated from the spec: one per operation, in spec order.");
        w.Open("public static partial class MidjourneyToolDefinitions");
        w.Summary("Every generated tool.");
        w.Line("public static global::System.Collections.Generic.IReadOnlyList<global::MjMcp.Server.ToolDefinition> All { get; } =");
        w.Line("[");
        foreach (var operation in spec.Operations)
        {
            w.Line("    new(");
            w.Line("        Operation: MidjourneySpec." + operation.PascalName + ",");
            w.Line("        Name: " + SourceWriter.Literal(operation.ToolName) + ",");
            w.Line("        Title: " + SourceWriter.Literal(Title(operation)) + ",");
            w.Line("        Description: " + SourceWriter.Literal(Description(spec, operation)) + ",");
            w.Line("        InputSchema: " + SourceWriter.Literal(InputSchema(operation)) + ",");
            w.Line("        ReadOnly: false,");
            w.Line("        Idempotent: false,");
            w.Line("        OpenWorld: true),");
        }

        w.Line("];");
        w.Line();
        w.Summary("The spec as the MCP library serves it: the rule table and the tools above.");
        w.Line("public static global::MjMcp.Server.McpSpec Spec { get; } = new(MidjourneySpec.Rules, All);");
        w.Close();
        w.Line();
        w.Summary("Registers the MCP server for this spec.");
        w.Open("public static partial class MidjourneyMcpServerExtensions");
        w.Summary("Adds the MCP server with one tool per operation of this spec (checked before any request, bounded waits with progress, next_actions, refusals with fixes, journal, previews); with no MJMCP_API_KEY an embedded sandbox serves the spec. Logs go to stderr. Add a transport to the result: WithStdioTransport() (stdio that answers every request read before stdin ends).");
        w.Param("builder", "The host builder.");
        w.Param("configure", "Overrides the settings read from MJMCP_* variables and the MjMcp configuration section.");
        w.Line("public static global::Microsoft.Extensions.DependencyInjection.IMcpServerBuilder AddMidjourneyMcpServer(this global::Microsoft.Extensions.Hosting.IHostApplicationBuilder builder, global::System.Action<global::MjMcp.Server.MjMcpServerOptions>? configure = null) =>");
        w.Line("    global::MjMcp.Server.MjMcpServerRegistration.AddMjMcpServer(builder, MidjourneyToolDefinitions.Spec, configure);");
        w.Close();
        return w.ToString();
    }

    private static string Title(OperationModel operation)
    {
        var words = operation.Name.Replace('-', ' ').Replace('_', ' ');
        return char.ToUpperInvariant(words[0]) + words.Substring(1);
    }

    private static string Description(SpecModel spec, OperationModel operation)
    {
        var text = new StringBuilder();
        text.Append(operation.Summary.TrimEnd('.')).Append('.');
        foreach (var form in operation.Forms)
        {
            if (form.Parent is null)
            {
                continue;
            }

            text.Append(' ');
            var madeBy = form.Parent.Operations.Count > 0 ? " made by " + string.Join(" or ", form.Parent.Operations.Select(o => o.Replace('-', '_'))) : string.Empty;
            var key = ParamsOf(form).FirstOrDefault(p => p.Required);
            var values = key is null ? string.Empty : " (" + key.Wire + ": " + ShortConstraint(key) + ")";
            text.Append(operation.Forms.Count > 1 ? "On " : "Needs ")
                .Append(form.Parent.Field).Append(" = ").Append(Article("finished")).Append(" finished ")
                .Append(string.Join(" or ", form.Parent.Stages))
                .Append(" task").Append(madeBy)
                .Append(operation.Forms.Count > 1 ? values : string.Empty)
                .Append('.');
        }

        var stage = spec.Stages.FirstOrDefault(s => s.Name == operation.Produces);
        var result = spec.Results.FirstOrDefault(r => r.Name == operation.Produces);
        text.Append(" Returns ");
        text.Append(stage is not null ? Article(stage.Name) + " " + stage.Name + " task (" + LowerFirst(stage.Summary.TrimEnd('.')) + ")" : result is not null ? result.Summary.TrimEnd('.') : operation.Produces);
        text.Append(". Waits for the result with progress (up to wait_seconds), then lists next_actions; a longer job returns its task_id to pass to wait_task.");
        if (operation.CreditsText() is { Length: > 0 } cost)
        {
            text.Append(" Costs ").Append(cost).Append('.');
        }

        return text.ToString();
    }

    private static string Article(string word) => word.Length > 0 && "aeiou".IndexOf(char.ToLowerInvariant(word[0])) >= 0 ? "an" : "a";

    private static string LowerFirst(string text) => text.Length == 0 ? text : char.ToLowerInvariant(text[0]) + text.Substring(1);

    private static IEnumerable<ParamModel> ParamsOf(FormModel form) => form.Params;

    private static string ShortConstraint(ParamModel param) => param.Kind switch
    {
        ParamKind.Enum => string.Join("|", param.Values.Select(v => v.Wire)),
        ParamKind.Int or ParamKind.Number when param.Min is not null && param.Max is not null =>
            param.Min.Value.ToString(CultureInfo.InvariantCulture) + "-" + param.Max.Value.ToString(CultureInfo.InvariantCulture),
        _ => param.Kind.ToString().ToLowerInvariant(),
    };

    private static string InputSchema(OperationModel operation)
    {
        var json = new StringBuilder();
        var required = new List<string>();
        json.Append("{\"type\":\"object\",\"properties\":{");
        var first = true;
        void Property(string name, string schema)
        {
            if (!first)
            {
                json.Append(',');
            }

            first = false;
            json.Append(Quote(name)).Append(':').Append(schema);
        }

        var parents = operation.Forms.Where(f => f.Parent is not null).Select(f => f.Parent!).ToList();
        if (parents.Count > 0)
        {
            var field = parents[0].Field;
            var stages = parents.SelectMany(p => p.Stages).Distinct().ToList();
            var madeBy = parents.SelectMany(p => p.Operations).Distinct().ToList();
            var description = "The task_id of a finished " + string.Join(" or ", stages) + " task" +
                (madeBy.Count > 0 ? " made by " + string.Join(" or ", madeBy.Select(o => o.Replace('-', '_'))) : string.Empty) + ".";
            Property(field, "{\"type\":\"string\",\"minLength\":1,\"description\":" + Quote(description) + "}");
            if (parents.Count == operation.Forms.Count)
            {
                required.Add(field);
            }
        }

        // One property per wire name across the forms; a name whose forms disagree becomes a union.
        var names = operation.Forms.SelectMany(f => f.Params).Select(p => p.Wire).Distinct().ToList();
        foreach (var wire in names)
        {
            var variants = operation.Forms.Select(f => (Form: f, Param: f.Params.FirstOrDefault(p => p.Wire == wire))).Where(v => v.Param is not null).ToList();
            var distinct = variants.Select(v => v.Param!).Distinct().ToList();
            if (distinct.Count == 1)
            {
                Property(wire, ParamSchema(distinct[0], SdkEmitter.ParamDoc(distinct[0])));
            }
            else
            {
                var description = string.Join(" ", variants.Select(v =>
                    "With " + Article(v.Form.Parent?.Stages.FirstOrDefault() ?? "no") + " " + string.Join(" or ", v.Form.Parent?.Stages ?? default) + " parent: " + SdkEmitter.ParamDoc(v.Param!)));
                Property(wire, "{\"type\":[\"integer\",\"string\"],\"description\":" + Quote(description) + "}");
            }

            if (variants.Count == operation.Forms.Count && variants.All(v => v.Param!.Required))
            {
                required.Add(wire);
            }
        }

        Property("wait_seconds", "{\"type\":\"integer\",\"minimum\":0,\"maximum\":300,\"description\":" +
            Quote("How many seconds to wait for the result before returning the task_id (default: the server's bound, 40 unless configured; 0 returns at once). Longer waits are capped below the client's time-out; use wait_task to keep waiting.") + "}");
        json.Append("},\"required\":[").Append(string.Join(",", required.Select(Quote))).Append("],\"additionalProperties\":false}");
        return json.ToString();
    }

    private static string ParamSchema(ParamModel param, string description)
    {
        var inv = CultureInfo.InvariantCulture;
        var parts = new List<string>();
        switch (param.Kind)
        {
            case ParamKind.Int:
                parts.Add("\"type\":\"integer\"");
                break;
            case ParamKind.Number:
                parts.Add("\"type\":\"number\"");
                break;
            case ParamKind.Bool:
                parts.Add("\"type\":\"boolean\"");
                break;
            case ParamKind.Enum:
                parts.Add("\"type\":\"string\"");
                parts.Add("\"enum\":[" + string.Join(",", param.Values.Select(v => Quote(v.Wire))) + "]");
                break;
            case ParamKind.Url:
                parts.Add("\"type\":\"string\"");
                parts.Add("\"format\":\"uri\"");
                break;
            case ParamKind.UrlList:
                parts.Add("\"type\":\"array\"");
                parts.Add("\"items\":{\"type\":\"string\",\"format\":\"uri\"}");
                break;
            default:
                parts.Add("\"type\":\"string\"");
                break;
        }

        if (param.Min is { } min)
        {
            parts.Add("\"minimum\":" + min.ToString("R", inv));
        }

        if (param.Max is { } max)
        {
            parts.Add("\"maximum\":" + max.ToString("R", inv));
        }

        if (param.MinLength is { } minLength)
        {
            parts.Add("\"minLength\":" + minLength.ToString(inv));
        }

        if (param.MaxLength is { } maxLength)
        {
            parts.Add("\"maxLength\":" + maxLength.ToString(inv));
        }

        if (param.MinItems is { } minItems)
        {
            parts.Add("\"minItems\":" + minItems.ToString(inv));
        }

        if (param.MaxItems is { } maxItems)
        {
            parts.Add("\"maxItems\":" + maxItems.ToString(inv));
        }

        if (param.Pattern is { } pattern)
        {
            parts.Add("\"pattern\":" + Quote(pattern));
        }

        if (param.Default is { } defaultValue)
        {
            parts.Add("\"default\":" + (param.Kind is ParamKind.Int or ParamKind.Number ? defaultValue : Quote(defaultValue)));
        }

        parts.Add("\"description\":" + Quote(description));
        return "{" + string.Join(",", parts) + "}";
    }

    /// <summary>A JSON string literal.</summary>
    private static string Quote(string text) => SourceWriter.Quote(text, json: true);
}
