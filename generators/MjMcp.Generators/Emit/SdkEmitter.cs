using System.Collections.Generic;
using System.Linq;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Emit;

/// <summary>
/// Emits the typed SDK surface: stage and result types, enums, request records (with their own
/// Utf8JsonWriter serialization: another generator's output is invisible to the System.Text.Json
/// generator, so the wire code is written here), and the typed client methods.
/// </summary>
internal static class SdkEmitter
{
    private const string Runtime = "global::MjMcp";

    public static string Stages(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        foreach (var stage in spec.Stages)
        {
            w.Summary(stage.Summary);
            w.Open("public sealed partial record " + stage.ClassName + " : " + Runtime + ".MjTask");
            w.Summary("The spec name of this stage.");
            w.Line("public const string StageName = " + SourceWriter.Literal(stage.Name) + ";");
            w.Line();
            w.Summary("How many images a finished task of this stage carries.");
            w.Line("public const int ImageCount = " + SourceWriter.Number(stage.Images) + ";");
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Line("public override string Stage => StageName;");
            w.Line();
            if (stage.Images == 1)
            {
                w.Summary("The URL of the image.");
                w.Line("public string ImageUrl => ImageUrls[0];");
                w.Line();
            }

            w.Summary("Creates the stage from a finished /fetch reply; throws MjProtocolException when the reply lacks its images.");
            w.Open("public static " + stage.ClassName + " FromFetch(" + Runtime + ".FetchResponse response)");
            w.Line("global::System.ArgumentNullException.ThrowIfNull(response);");
            w.Open("return new " + stage.ClassName);
            w.Line("TaskId = response.TaskId,");
            w.Line("TaskType = response.TaskType,");
            w.Line("Operation = MidjourneySpec.Rules.OperationOfTaskType(response.TaskType)?.Name,");
            w.Line("ImageUrls = response.RequireImageUrls(ImageCount),");
            w.Line("OriginalImageUrl = response.OriginalImageUrl,");
            w.Close(";");
            w.Close();
            w.Close();
            w.Line();
        }

        foreach (var result in spec.Results)
        {
            w.Summary(result.Summary);
            w.Open("public sealed partial record " + result.ClassName + " : " + Runtime + ".MjResult");
            w.Summary("The spec name of this result.");
            w.Line("public const string ResultName = " + SourceWriter.Literal(result.Name) + ";");
            w.Line();
            w.Line("/// <inheritdoc/>");
            w.Line("public override string Kind => ResultName;");
            foreach (var field in result.Fields)
            {
                w.Line();
                w.Summary(field.Summary);
                w.Line("public required " + FieldType(field) + " " + field.PropertyName + " { get; init; }");
            }

            w.Line();
            w.Summary("Creates the result from a finished /fetch reply; throws MjProtocolException when a field is missing.");
            w.Open("public static " + result.ClassName + " FromFetch(" + Runtime + ".FetchResponse response)");
            w.Line("global::System.ArgumentNullException.ThrowIfNull(response);");
            w.Open("return new " + result.ClassName);
            w.Line("TaskId = response.TaskId,");
            w.Line("TaskType = response.TaskType,");
            foreach (var field in result.Fields)
            {
                var getter = field.Kind == FieldKind.StringList ? "RequireStringList" : "RequireString";
                w.Line(field.PropertyName + " = response." + getter + "(" + SourceWriter.Literal(field.Wire) + "),");
            }

            w.Close(";");
            w.Close();
            w.Close();
            w.Line();
        }

        return w.ToString();
    }

    public static string Requests(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        var enums = new List<ParamModel>();
        foreach (var param in spec.Operations.SelectMany(o => o.Forms).SelectMany(f => f.Params).Where(p => p.Kind == ParamKind.Enum))
        {
            if (!enums.Any(e => e.EnumClass == param.EnumClass))
            {
                enums.Add(param);
            }
        }

        foreach (var param in enums)
        {
            w.Summary(param.Summary.Length > 0 ? param.Summary : "Allowed values of " + param.Name + ".");
            w.Open("public enum " + param.EnumClass);
            foreach (var value in param.Values)
            {
                w.Summary("Sent as \"" + value.Wire + "\".");
                w.Line(value.Member + ",");
            }

            w.Close();
            w.Line();
        }

        w.Summary("Conversions between the generated enums and the provider's wire strings.");
        w.Open("public static partial class MjWireValues");
        foreach (var param in enums)
        {
            var allowed = string.Join(", ", param.Values.Select(v => v.Wire));
            w.Summary("The wire string of a " + param.EnumClass + " value.");
            w.Open("public static string ToWire(this " + param.EnumClass + " value) => value switch");
            foreach (var value in param.Values)
            {
                w.Line(param.EnumClass + "." + value.Member + " => " + SourceWriter.Literal(value.Wire) + ",");
            }

            w.Line("_ => throw new global::System.ArgumentOutOfRangeException(nameof(value), value, " + SourceWriter.Literal("Use one of: " + allowed + ".") + "),");
            w.Close(";");
            w.Line();
            w.Summary("Parses a wire string into a " + param.EnumClass + " (ordinal, case-sensitive like the provider).");
            w.Open("public static bool TryParse" + param.EnumClass + "(string? wire, out " + param.EnumClass + " value)");
            w.Open("switch (wire)");
            foreach (var value in param.Values)
            {
                w.Line("case " + SourceWriter.Literal(value.Wire) + ": value = " + param.EnumClass + "." + value.Member + "; return true;");
            }

            w.Line("default: value = default; return false;");
            w.Close();
            w.Close();
            w.Line();
        }

        w.Close();
        w.Line();

        foreach (var operation in spec.Operations)
        {
            foreach (var form in operation.Forms)
            {
                EmitRequest(w, spec, operation, form);
            }
        }

        return w.ToString();
    }

    private static void EmitRequest(SourceWriter w, SpecModel spec, OperationModel operation, FormModel form)
    {
        var parameters = form.Params.Concat(spec.Provider.CommonParams).ToList();
        w.Summary("The parameters of " + operation.Name + (form.Name.Length > 0 ? " (" + form.Name + " form)" : string.Empty) + ": " + form.Summary);
        w.Open("public sealed partial record " + form.RequestClass);
        foreach (var param in parameters)
        {
            w.Summary(ParamDoc(param));
            w.Line("public " + (param.Required ? "required " : string.Empty) + PropertyType(param) + " " + param.PropertyName + " { get; init; }");
            w.Line();
        }

        w.Summary("Writes the parameters as JSON properties in the provider's wire format (without the enclosing braces).");
        w.Open("public void WriteProperties(global::System.Text.Json.Utf8JsonWriter writer)");
        w.Line("global::System.ArgumentNullException.ThrowIfNull(writer);");
        foreach (var param in parameters)
        {
            var name = SourceWriter.Literal(param.Wire);
            var value = param.PropertyName;
            var optional = !param.Required;
            string write = param.Kind switch
            {
                ParamKind.Int when param.WireAsString => "writer.WriteString(" + name + ", " + Value(param) + ".ToString(global::System.Globalization.CultureInfo.InvariantCulture));",
                ParamKind.Int or ParamKind.Number => "writer.WriteNumber(" + name + ", " + Value(param) + ");",
                ParamKind.Bool => "writer.WriteBoolean(" + name + ", " + Value(param) + ");",
                ParamKind.Enum => "writer.WriteString(" + name + ", " + Value(param) + ".ToWire());",
                ParamKind.UrlList => "writer.WriteStartArray(" + name + "); foreach (var item in " + value + ") { writer.WriteStringValue(item); } writer.WriteEndArray();",
                _ => "writer.WriteString(" + name + ", " + value + ");",
            };
            if (optional)
            {
                w.Open("if (" + value + " is not null)");
                w.Line(write);
                w.Close();
            }
            else if (param.Kind is ParamKind.UrlList)
            {
                w.Open("if (" + value + " is not null)");
                w.Line(write);
                w.Close();
            }
            else
            {
                w.Line(write);
            }
        }

        w.Close();
        w.Line();
        w.Line("// Secrets never reach ToString(), so a logged request cannot leak them.");
        w.Open("private bool PrintMembers(global::System.Text.StringBuilder builder)");
        var first = true;
        foreach (var param in parameters)
        {
            var prefix = first ? string.Empty : ", ";
            first = false;
            if (param.Secret)
            {
                w.Line("builder.Append(" + SourceWriter.Literal(prefix + param.PropertyName + " = ") + ").Append(" + param.PropertyName + " is null ? \"\" : \"***\");");
            }
            else if (param.Kind == ParamKind.UrlList)
            {
                w.Line("builder.Append(" + SourceWriter.Literal(prefix + param.PropertyName + " = [") + ").Append(" + param.PropertyName + " is null ? \"\" : string.Join(\", \", " + param.PropertyName + ")).Append(']');");
            }
            else if (param.Kind == ParamKind.ImageData)
            {
                w.Line("builder.Append(" + SourceWriter.Literal(prefix + param.PropertyName + " = ") + ").Append(" + param.PropertyName + " is null ? \"\" : \"(\" + " + param.PropertyName + ".Length.ToString(global::System.Globalization.CultureInfo.InvariantCulture) + \" chars)\");");
            }
            else
            {
                w.Line("builder.Append(" + SourceWriter.Literal(prefix + param.PropertyName + " = ") + ").Append(" + param.PropertyName + ");");
            }
        }

        w.Line("return true;");
        w.Close();
        w.Close();
        w.Line();
    }

    private static string Value(ParamModel param) => param.Required ? param.PropertyName : param.PropertyName + ".Value";

    public static string Client(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        w.Summary("The typed Midjourney client: one method per operation form, taking the parent stage it needs. Built on the runtime's public MjClient.");
        w.Open("public sealed partial class MidjourneyClient : " + Runtime + ".MjClient");
        w.Summary("Creates a client for this spec over httpClient (its BaseAddress is not used: options.BaseUrl, else the spec's base URL).");
        w.Param("httpClient", "The HttpClient to send with (AddMidjourneyClient gives one with the provider resilience pipeline).");
        w.Param("options", "The key, base URL and polling settings.");
        w.Param("logger", "Logs submissions, provider errors and retries; never the key.");
        w.Param("timeProvider", "The clock (tests pass a fake one).");
        w.Line("public MidjourneyClient(global::System.Net.Http.HttpClient httpClient, " + Runtime + ".MidjourneyOptions options, global::Microsoft.Extensions.Logging.ILogger<MidjourneyClient>? logger = null, global::System.TimeProvider? timeProvider = null)");
        w.Line("    : base(httpClient, options, MidjourneySpec.Rules, logger, timeProvider)");
        w.Line("{");
        w.Line("}");
        w.Line();
        var first = true;
        foreach (var operation in spec.Operations)
        {
            var produced = ProducedClass(spec, operation);
            for (var formIndex = 0; formIndex < operation.Forms.Count; formIndex++)
            {
                var form = operation.Forms[formIndex];
                if (!first)
                {
                    w.Line();
                }

                first = false;
                var parent = ParentParameter(spec, form);
                var parameters = form.Params.Concat(spec.Provider.CommonParams).ToList();
                var returnType = Runtime + ".Submission<" + produced + ">";

                // Flattened overload.
                Docs(w, operation, form, parent);
                foreach (var param in parameters)
                {
                    w.Param(param.ParameterName, ParamDoc(param));
                }

                w.Line("/// <param name=\"cancellationToken\">Cancels the submission.</param>");
                w.Line("/// <returns>The submission: await it for the pending task, or call WaitAsync for the finished " + produced + ".</returns>");
                var signature = new List<string>();
                if (parent is not null)
                {
                    signature.Add(parent.Value.Type + " " + parent.Value.Name);
                }

                signature.AddRange(parameters.Where(p => p.Required).Select(p => PropertyType(p) + " " + p.ParameterName));
                signature.AddRange(parameters.Where(p => !p.Required).Select(p => PropertyType(p) + " " + p.ParameterName + " = null"));
                signature.Add("global::System.Threading.CancellationToken cancellationToken = default");
                w.Open("public " + returnType + " " + operation.PascalName + "Async(" + string.Join(", ", signature) + ")");
                w.Open("var request = new " + form.RequestClass);
                foreach (var param in parameters)
                {
                    w.Line(param.PropertyName + " = " + param.ParameterName + ",");
                }

                w.Close(";");
                w.Line("return " + operation.PascalName + "Async(" + (parent is null ? string.Empty : parent.Value.Name + ", ") + "request, cancellationToken);");
                w.Close();
                w.Line();

                // Request overload.
                Docs(w, operation, form, parent);
                w.Line("/// <param name=\"request\">The parameters.</param>");
                w.Line("/// <param name=\"cancellationToken\">Cancels the submission.</param>");
                w.Line("/// <returns>The submission: await it for the pending task, or call WaitAsync for the finished " + produced + ".</returns>");
                var requestSignature = (parent is null ? string.Empty : parent.Value.Type + " " + parent.Value.Name + ", ") + form.RequestClass + " request, global::System.Threading.CancellationToken cancellationToken = default";
                w.Open("public " + returnType + " " + operation.PascalName + "Async(" + requestSignature + ")");
                if (parent is not null)
                {
                    w.Line("global::System.ArgumentNullException.ThrowIfNull(" + parent.Value.Name + ");");
                }

                w.Line("global::System.ArgumentNullException.ThrowIfNull(request);");
                w.Line("return Submit(MidjourneySpec." + operation.PascalName + ", " + SourceWriter.Number(formIndex) + ", " + (parent is null ? "null" : parent.Value.Name) + ", request.WriteProperties, " + produced + ".FromFetch, cancellationToken);");
                w.Close();
            }
        }

        w.Close();
        w.Line();
        w.Summary("DI registration of the generated MidjourneyClient.");
        w.Open("public static partial class MidjourneyServiceCollectionExtensions");
        w.Summary("Registers MidjourneyClient (and the runtime MjClient, the same instance) as a singleton over a named HttpClient with the provider resilience pipeline, with MidjourneyOptions from the options system; returns the HttpClient builder.");
        w.Param("services", "The services.");
        w.Param("configure", "Configures the options: ApiKey, BaseUrl, polling.");
        w.Line("public static global::Microsoft.Extensions.DependencyInjection.IHttpClientBuilder AddMidjourneyClient(this global::Microsoft.Extensions.DependencyInjection.IServiceCollection services, global::System.Action<" + Runtime + ".MidjourneyOptions>? configure = null) =>");
        w.Line("    " + Runtime + ".MjClientServiceCollectionExtensions.AddMjClient(");
        w.Line("        services,");
        w.Line("        static (httpClient, options, provider) => new MidjourneyClient(");
        w.Line("            httpClient,");
        w.Line("            options,");
        w.Line("            (global::Microsoft.Extensions.Logging.ILogger<MidjourneyClient>?)provider.GetService(typeof(global::Microsoft.Extensions.Logging.ILogger<MidjourneyClient>)),");
        w.Line("            (global::System.TimeProvider?)provider.GetService(typeof(global::System.TimeProvider))),");
        w.Line("        configure);");
        w.Close();
        return w.ToString();
    }

    private static void Docs(SourceWriter w, OperationModel operation, FormModel form, (string Type, string Name)? parent)
    {
        w.Summary(form.Summary + "\n" + "POST " + operation.Path + (operation.CreditsText() is { Length: > 0 } cost ? ", " + cost + "." : "."));
        if (parent is not null)
        {
            var allowed = form.Parent!.Operations.Count > 0 ? " made by " + string.Join(" or ", form.Parent.Operations) : string.Empty;
            w.Param(parent.Value.Name, "The finished " + string.Join(" or ", form.Parent.Stages) + " task" + allowed + " to act on.");
        }
    }

    /// <summary>The C# type and name of a form's parent parameter, or null when it has none.</summary>
    private static (string Type, string Name)? ParentParameter(SpecModel spec, FormModel form)
    {
        if (form.Parent is null)
        {
            return null;
        }

        var name = form.Parent.Field == "parent_task_id" ? "parent" : Parsing.Names.Camel(form.Parent.Field.EndsWith("_id", System.StringComparison.Ordinal) ? form.Parent.Field.Substring(0, form.Parent.Field.Length - 3) : form.Parent.Field);
        if (form.Parent.Stages.Count == 1)
        {
            var stage = spec.Stages.First(s => s.Name == form.Parent.Stages[0]);
            return (stage.ClassName, name);
        }

        // Several stages: the common base type; the client checks the stage at run time.
        return (Runtime + ".MjTask", name);
    }

    public static string ProducedClass(SpecModel spec, OperationModel operation) =>
        spec.Stages.FirstOrDefault(s => s.Name == operation.Produces)?.ClassName
        ?? spec.Results.FirstOrDefault(r => r.Name == operation.Produces)?.ClassName
        ?? Runtime + ".MjTask";

    private static string FieldType(FieldModel field) => field.Kind == FieldKind.StringList ? "global::System.Collections.Generic.IReadOnlyList<string>" : "string";

    public static string PropertyType(ParamModel param)
    {
        var type = param.Kind switch
        {
            ParamKind.Int => "int",
            ParamKind.Number => "double",
            ParamKind.Bool => "bool",
            ParamKind.Enum => param.EnumClass!,
            ParamKind.UrlList => "global::System.Collections.Generic.IReadOnlyList<string>",
            _ => "string",
        };
        return param.Required ? type : type + "?";
    }

    /// <summary>The human description of a parameter, with its allowed values and limits.</summary>
    public static string ParamDoc(ParamModel param)
    {
        var parts = new List<string>();
        if (param.Summary.Length > 0)
        {
            parts.Add(param.Summary.TrimEnd('.') + ".");
        }

        parts.Add(Constraints(param));
        if (param.Default is not null)
        {
            parts.Add("Default: " + param.Default + ".");
        }

        return string.Join(" ", parts.Where(p => p.Length > 0));
    }

    public static string Constraints(ParamModel param)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        switch (param.Kind)
        {
            case ParamKind.Enum:
                return "One of: " + string.Join(", ", param.Values.Select(v => v.Wire)) + ".";
            case ParamKind.Int:
            case ParamKind.Number:
                if (param.Min is not null && param.Max is not null)
                {
                    return "From " + param.Min.Value.ToString(inv) + " to " + param.Max.Value.ToString(inv) + ".";
                }

                return param.Min is not null ? "At least " + param.Min.Value.ToString(inv) + "." : param.Max is not null ? "At most " + param.Max.Value.ToString(inv) + "." : string.Empty;
            case ParamKind.UrlList:
                return (param.MinItems, param.MaxItems) switch
                {
                    ({ } min, { } max) => min.ToString(inv) + " to " + max.ToString(inv) + " http(s) URLs.",
                    _ => "http(s) URLs.",
                };
            case ParamKind.Url:
                return "An http(s) URL.";
            default:
                return param.MaxLength is { } maxLength ? "At most " + maxLength.ToString(inv) + " characters." : string.Empty;
        }
    }
}
