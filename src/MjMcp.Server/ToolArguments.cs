using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The limits of the arguments the server itself defines (not the spec's): one constant each, used by the
/// tools' input schemas and by the checks alike.
/// </summary>
public static class ToolLimits
{
    /// <summary>The shortest wait an agent may ask for (0 = fetch once, do not wait).</summary>
    public const int WaitSecondsMin = 0;

    /// <summary>The longest wait an agent may ask for: the server's bound, below the ~60 s clients allow.</summary>
    public const int WaitSecondsMax = MjMcpServerOptions.MaxWaitSeconds;

    /// <summary>list_tasks: the fewest tasks one may ask for.</summary>
    public const int ListLimitMin = 1;

    /// <summary>list_tasks: the most tasks one may ask for.</summary>
    public const int ListLimitMax = 200;

    /// <summary>list_tasks: how many when no limit is given.</summary>
    public const int ListLimitDefault = 20;
}

/// <summary>
/// Strict, uniform argument checks for every tool, built-in and generated: unknown names, control characters,
/// types, ranges and allowed values (through the spec's <see cref="RuleValidator"/>, so every tool refuses the same
/// things with the same words), and numbers normalised to the spec's wire type (2.0 → "2" for an index that
/// travels as a string; 2.5 stays as it is and is refused as not a whole number).
/// </summary>
public static class ToolArguments
{
    /// <summary>The argument every task tool takes: how long to wait for the task.</summary>
    public const string WaitSecondsName = "wait_seconds";

    /// <summary>wait_seconds, as a parameter rule (schema and check alike).</summary>
    public static ParamRule WaitSeconds { get; } = Param(
        WaitSecondsName,
        ParamKind.Int,
        required: false,
        $"How long to wait for the task, in seconds ({ToolLimits.WaitSecondsMin}-{ToolLimits.WaitSecondsMax}; 0 = do not wait; default: the server's setting).",
        min: ToolLimits.WaitSecondsMin,
        max: ToolLimits.WaitSecondsMax);

    /// <summary>A required task_id (fetch_task, wait_task).</summary>
    public static ParamRule TaskId(string summary) => Param("task_id", ParamKind.String, required: true, summary, minLength: 1);

    /// <summary>list_tasks' limit.</summary>
    public static ParamRule ListLimit { get; } = Param(
        "limit",
        ParamKind.Int,
        required: false,
        $"At most this many ({ToolLimits.ListLimitMin}-{ToolLimits.ListLimitMax}; default {ToolLimits.ListLimitDefault}).",
        min: ToolLimits.ListLimitMin,
        max: ToolLimits.ListLimitMax);

    /// <summary>A parameter rule of a built-in tool.</summary>
    public static ParamRule Param(string name, ParamKind kind, bool required, string summary, double? min = null, double? max = null, int? minLength = null, IReadOnlyList<string>? values = null) =>
        new(name, name, kind, required, Secret: false, summary, Default: null, values ?? [], min, max, minLength, MaxLength: null, MinItems: null, MaxItems: null, Pattern: null, WireAsString: false);

    /// <summary>The JSON schema of a built-in tool, written from its parameter rules.</summary>
    public static string Schema(IReadOnlyList<ParamRule> parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var properties = new JsonObject();
        foreach (var param in parameters)
        {
            properties[param.Wire] = PropertySchema(param);
        }

        var schema = new JsonObject { ["type"] = "object", ["properties"] = properties };
        var required = parameters.Where(p => p.Required).Select(p => (JsonNode?)p.Wire).ToArray();
        if (required.Length > 0)
        {
            schema["required"] = new JsonArray(required);
        }

        schema["additionalProperties"] = false;
        return schema.ToJsonString();
    }

    /// <summary>The schema of one parameter (the kinds built-in tools use: string, int, enum).</summary>
    public static JsonObject PropertySchema(ParamRule param)
    {
        ArgumentNullException.ThrowIfNull(param);
        var node = new JsonObject();
        switch (param.Kind)
        {
            case ParamKind.Int:
                node["type"] = "integer";
                break;
            case ParamKind.Number:
                node["type"] = "number";
                break;
            case ParamKind.Enum:
                node["type"] = "string";
                node["enum"] = new JsonArray(param.Values.Select(v => (JsonNode?)v).ToArray());
                break;
            default:
                node["type"] = "string";
                break;
        }

        if (param.Min is { } min)
        {
            node["minimum"] = min;
        }

        if (param.Max is { } max)
        {
            node["maximum"] = max;
        }

        if (param.MinLength is { } minLength)
        {
            node["minLength"] = minLength;
        }

        node["description"] = param.Summary;
        return node;
    }

    /// <summary>
    /// Replaces the <c>wait_seconds</c> property of a generated tool's schema with <see cref="WaitSeconds"/>'s: the
    /// runtime owns that argument, so its limits come from <see cref="ToolLimits"/>, not from the generator.
    /// </summary>
    public static string WithWaitSeconds(string inputSchema)
    {
        var schema = JsonNode.Parse(inputSchema)!.AsObject();
        if (schema["properties"] is JsonObject properties && properties.ContainsKey(WaitSecondsName))
        {
            properties[WaitSecondsName] = PropertySchema(WaitSeconds);
        }

        return schema.ToJsonString();
    }

    /// <summary>
    /// Checks a built-in tool's arguments: unknown names, control characters, then types, ranges and allowed values.
    /// Returns the refusal, or null when all is well. A missing required argument is <see cref="RefusalCodes.MissingArgument"/>
    /// with <paramref name="whenMissing"/> as the fix.
    /// </summary>
    public static CallToolResult? Check(string tool, IReadOnlyList<ParamRule> parameters, IDictionary<string, JsonElement> args, Fix? whenMissing = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(args);
        if (Unknown(tool, parameters.Select(p => p.Wire).ToList(), args) is { } unknown)
        {
            return unknown;
        }

        if (ControlCharacters(tool, args) is { } control)
        {
            return control;
        }

        var form = new FormRule(tool, tool, null, parameters);
        using var body = Body(form, args);
        var problems = RuleValidator.ValidateParams(form, [], body.RootElement);
        if (problems.Count == 0)
        {
            return null;
        }

        var missing = problems.All(p => parameters.Any(r => r.Wire == p.Parameter && r.Required && !args.ContainsKey(r.Wire)));
        return missing
            ? ToolRuntime.Refuse(RefusalCodes.MissingArgument, string.Join(" ", problems.Select(p => p.Message)), whenMissing)
            : Invalid(tool, parameters, problems, new Dictionary<string, string>(StringComparer.Ordinal));
    }

    /// <summary>An <see cref="RefusalCodes.InvalidArgument"/> refusal whose fix is the same tool, with the allowed values of each bad argument.</summary>
    public static CallToolResult Invalid(string tool, IReadOnlyList<ParamRule> parameters, IReadOnlyList<ValidationProblem> problems, IReadOnlyDictionary<string, string> keep)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(problems);
        var choices = new Dictionary<string, IReadOnlyList<object>>(StringComparer.Ordinal);
        foreach (var problem in problems)
        {
            if (parameters.FirstOrDefault(p => p.Wire == problem.Parameter) is { } param && FixPlanner.Choices(param) is { } values)
            {
                choices[param.Wire] = values;
            }
        }

        return ToolRuntime.Refuse(RefusalCodes.InvalidArgument, string.Join(" ", problems.Select(p => p.Message)), new Fix(tool, keep, choices, null));
    }

    /// <summary>An <see cref="RefusalCodes.UnknownArgument"/> refusal when an argument is not one of <paramref name="accepted"/>.</summary>
    public static CallToolResult? Unknown(string tool, IReadOnlyCollection<string> accepted, IDictionary<string, JsonElement> args)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        ArgumentNullException.ThrowIfNull(args);
        if (args.Keys.FirstOrDefault(k => !accepted.Contains(k, StringComparer.Ordinal)) is not { } unknown)
        {
            return null;
        }

        var takes = accepted.Count == 0 ? "It takes no arguments." : $"It takes: {string.Join(", ", accepted)}.";

        // The fix: the same call without the arguments the tool does not take. A single unknown argument whose name shares
        // a word with exactly one accepted argument the call lacks (parent_task_id for seed's task_id) is taken as a
        // misnamed one: the fix moves its value there.
        var kept = args.Where(a => accepted.Contains(a.Key, StringComparer.Ordinal)).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
        var unknowns = args.Keys.Where(k => !accepted.Contains(k, StringComparer.Ordinal)).ToList();
        var meant = string.Empty;
        if (unknowns.Count == 1)
        {
            var words = unknowns[0].Split('_', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.OrdinalIgnoreCase);
            var similar = accepted.Where(a => !args.ContainsKey(a) && a.Split('_', StringSplitOptions.RemoveEmptyEntries).Any(words.Contains)).ToList();
            if (similar.Count == 1)
            {
                kept[similar[0]] = args[unknowns[0]];
                meant = $" Did you mean '{similar[0]}'?";
            }
        }

        var fix = new Fix(tool, new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<object>>(), null) { Values = kept };
        return ToolRuntime.Refuse(RefusalCodes.UnknownArgument, $"{tool} has no argument '{Shown(unknown)}'. {takes}{meant}", fix);
    }

    /// <summary>
    /// Refuses NUL and the other C0 control characters (and DEL) in any string argument, at any depth: the provider
    /// would take (and charge) them, and they break prompts and logs. Tab, line feed and carriage return are allowed:
    /// they are ordinary text (a multi-line prompt, Windows line ends) and JSON escapes them on the wire.
    /// </summary>
    public static CallToolResult? ControlCharacters(string tool, IDictionary<string, JsonElement> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        foreach (var (name, value) in args)
        {
            if (FirstControl(value) is not { } found)
            {
                continue;
            }

            var keep = new Dictionary<string, string>(StringComparer.Ordinal);
            var cleaned = value.ValueKind == JsonValueKind.String ? Clean(value.GetString()!) : null;
            if (cleaned is { Length: <= 1000 })
            {
                keep[name] = cleaned;
            }

            var then = keep.Count == 0 ? $"remove the control characters from '{name}', then call {tool} again" : null;
            return ToolRuntime.Refuse(
                RefusalCodes.InvalidArgument,
                $"'{Shown(name)}' contains the control character U+{(int)found.Character:X4} at position {found.Position}; only tab, line feed and carriage return are allowed. Remove it and call {tool} again{(keep.Count > 0 ? " (the fix has the cleaned text)" : string.Empty)}.",
                new Fix(tool, keep, new Dictionary<string, IReadOnlyList<object>>(), then));
        }

        return null;
    }

    /// <summary>Whether a character is refused in a string argument.</summary>
    public static bool IsRefusedControl(char c) => (c < ' ' && c is not '\t' and not '\n' and not '\r') || c == '\u007F';

    /// <summary>
    /// The wire body of a form from the tool arguments, numbers normalised to the parameter's wire type: a whole
    /// number (2, 2.0, "2", "2.0") of an int parameter travels as "2" when the wire type is string, else as 2; a
    /// number parameter travels as a JSON number. Anything else is copied as it is, for the validator to refuse.
    /// </summary>
    public static JsonDocument Body(FormRule form, IDictionary<string, JsonElement> args)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(args);
        var json = TaskView.Write(w =>
        {
            w.WriteStartObject();
            foreach (var param in form.Params)
            {
                if (!args.TryGetValue(param.Wire, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                w.WritePropertyName(param.Wire);
                if (param.Kind == ParamKind.Int && WholeNumber(value) is { } whole)
                {
                    if (param.WireAsString)
                    {
                        w.WriteStringValue(whole.ToString(CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        w.WriteNumberValue(whole);
                    }
                }
                else if (param.Kind == ParamKind.Number && Number(value) is { } number)
                {
                    if (param.WireAsString)
                    {
                        w.WriteStringValue(number.ToString("R", CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        w.WriteNumberValue(number);
                    }
                }
                else
                {
                    value.WriteTo(w);
                }
            }

            w.WriteEndObject();
        });
        return JsonDocument.Parse(json.GetRawText());
    }

    /// <summary>The value of an integer argument that passed <see cref="Check"/> (or null when absent).</summary>
    public static long? Integer(IDictionary<string, JsonElement> args, string name)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args.TryGetValue(name, out var value) && value.ValueKind != JsonValueKind.Null ? WholeNumber(value) : null;
    }

    /// <summary>The value of a string argument (or null when absent or not a string).</summary>
    public static string? Text(IDictionary<string, JsonElement> args, string name)
    {
        ArgumentNullException.ThrowIfNull(args);
        return args.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
    }

    private static double? Number(JsonElement value) =>
        value.ValueKind switch
        {
            JsonValueKind.Number when value.TryGetDouble(out var d) && double.IsFinite(d) => d,
            JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) => d,
            _ => null,
        };

    // 2^53: beyond it a double no longer holds every whole number, so such a value is left for the range check.
    private static long? WholeNumber(JsonElement value) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var exact) ? exact
        : Number(value) is { } d && Math.Abs(d) <= 9_007_199_254_740_992d && Math.Floor(d) == d ? (long)d
        : null;

    private static (char Character, int Position)? FirstControl(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.String:
                var text = value.GetString()!;
                for (var i = 0; i < text.Length; i++)
                {
                    if (IsRefusedControl(text[i]))
                    {
                        return (text[i], i);
                    }
                }

                return null;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    if (FirstControl(item) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            case JsonValueKind.Object:
                foreach (var property in value.EnumerateObject())
                {
                    if (FirstControl(property.Value) is { } found)
                    {
                        return found;
                    }
                }

                return null;
            default:
                return null;
        }
    }

    private static string Clean(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (!IsRefusedControl(c))
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }

    // An argument name is shown in a message: control characters in it are shown as escapes, and a long one is cut.
    private static string Shown(string name)
    {
        var clean = string.Concat(name.Select(c => IsRefusedControl(c) ? $"\\u{(int)c:X4}" : c.ToString()));
        return clean.Length <= 64 ? clean : clean[..61] + "...";
    }
}
