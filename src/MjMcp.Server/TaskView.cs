using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// Turns tasks and refusals into what the agent reads: structured JSON (matching <see cref="OutputSchemas"/>)
/// and a short text. Written with Utf8JsonWriter: no reflection, NativeAOT-safe.
/// </summary>
public static class TaskView
{
    /// <summary>The actions valid on a finished task of <paramref name="stage"/> made by <paramref name="operation"/>.</summary>
    public static IReadOnlyList<NextAction> NextActions(SpecRules rules, string taskId, string? stage, string? operation)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var actions = new List<NextAction>();
        if (stage is null)
        {
            return actions;
        }

        foreach (var op in rules.Operations)
        {
            foreach (var form in op.FormsForStage(stage))
            {
                if (form.Parent!.Operations.Count > 0 && (operation is null || !form.Parent.Operations.Contains(operation, StringComparer.Ordinal)))
                {
                    continue;
                }

                var choices = new Dictionary<string, IReadOnlyList<object>>(StringComparer.Ordinal);
                var needs = new Dictionary<string, Need>(StringComparer.Ordinal);
                foreach (var param in form.Params.Where(p => p.Required))
                {
                    if (Choices(param) is { } values)
                    {
                        choices[param.Wire] = values;
                    }
                    else
                    {
                        needs[param.Wire] = FixPlanner.NeedOf(rules, param);
                    }
                }

                actions.Add(new NextAction(
                    op.ToolName,
                    new Dictionary<string, string>(StringComparer.Ordinal) { [form.Parent.Field] = taskId },
                    choices,
                    needs,
                    form.Summary));
            }
        }

        return actions;
    }

    /// <summary>The values an agent may pick for a parameter, when there is a short list.</summary>
    public static IReadOnlyList<object>? Choices(ParamRule param)
    {
        ArgumentNullException.ThrowIfNull(param);
        switch (param.Kind)
        {
            case ParamKind.Enum:
                return param.Values.Cast<object>().ToArray();
            case ParamKind.Int when param.Min is { } min && param.Max is { } max && max - min <= 20:
                return Enumerable.Range((int)min, (int)(max - min) + 1).Cast<object>().ToArray();
            case ParamKind.Number when param.Min is { } min && param.Max is { } max:
                return new object[] { min, (min + max) / 2, max }.Distinct().ToArray();
            default:
                return null;
        }
    }

    /// <summary>Writes a task as structured content.</summary>
    public static JsonElement Task(SpecRules rules, TaskRecord record, FetchResponse? finished, IReadOnlyList<NextAction> nextActions, string? hint)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        return Write(w =>
        {
            w.WriteStartObject();
            WriteTaskFields(w, rules, record, finished);
            WriteNextActions(w, nextActions);
            if (hint is not null)
            {
                w.WriteString("hint", hint);
            }

            w.WriteEndObject();
        });
    }

    /// <summary>The text an agent reads for a task.</summary>
    public static string TaskText(SpecRules rules, TaskRecord record, FetchResponse? finished, IReadOnlyList<NextAction> nextActions, string? hint)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"Task {record.TaskId} ({record.Operation}) is {record.State.ToString().ToLowerInvariant()}");
        if (record.State is TaskState.Pending or TaskState.Running or TaskState.Retrying && record.Percentage is { } pct)
        {
            text.Append(CultureInfo.InvariantCulture, $" at {pct}%");
        }

        if (record.Stage is { } stage && rules.FindStage(stage) is { } stageRule && record.State == TaskState.Finished)
        {
            text.Append(CultureInfo.InvariantCulture, $": {Wording.A(stage)} - {stageRule.Summary.TrimEnd('.')}");
        }

        text.Append('.');
        if (finished is not null)
        {
            var urls = ImageUrls(rules, record, finished);
            for (var i = 0; i < urls.Count; i++)
            {
                text.Append(CultureInfo.InvariantCulture, $"\n  {(urls.Count > 1 ? $"image {i + 1}" : "image")}: {urls[i]}");
            }

            if (record.ResultKind is { } kind && rules.FindResult(kind) is { } result)
            {
                foreach (var field in result.Fields)
                {
                    var value = field.IsList ? string.Join(" | ", finished.GetStringList(field.Wire) ?? []) : finished.GetString(field.Wire);
                    text.Append(CultureInfo.InvariantCulture, $"\n  {field.Name}: {value}");
                }
            }
        }

        if (record.Error is { } error)
        {
            text.Append(CultureInfo.InvariantCulture, $"\nReason: {error}");
        }

        if (nextActions.Count > 0)
        {
            text.Append("\nNext you may call:");
            foreach (var action in nextActions)
            {
                text.Append(CultureInfo.InvariantCulture, $"\n  {action.Tool}({Describe(action.Arguments, new Dictionary<string, JsonElement>(), action.Choices, action.Needs)})");
            }
        }

        if (hint is not null)
        {
            text.Append('\n').Append(hint);
        }

        return text.ToString();
    }

    /// <summary>A refusal: what is wrong and the call that fixes it, as text and as data.</summary>
    public static (JsonElement Structured, string Text) Refusal(string code, string message, Fix? fix, string? taskId = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var structured = Write(w =>
        {
            w.WriteStartObject();
            if (taskId is not null)
            {
                w.WriteString("task_id", taskId);
            }

            w.WriteStartObject("error");
            w.WriteString("code", code);
            w.WriteString("message", message);
            if (fix is not null)
            {
                w.WritePropertyName("fix");
                WriteFix(w, fix);
            }

            w.WriteEndObject();
            w.WriteEndObject();
        });
        var text = fix is null ? message : $"{message} Fix: call {CallText(fix)}{(fix.Then is null ? string.Empty : " then " + fix.Then)}.";
        return (structured, text);
    }

    /// <summary>The image URLs of a finished image task.</summary>
    public static IReadOnlyList<string> ImageUrls(SpecRules rules, TaskRecord record, FetchResponse finished)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(finished);
        if (record.Stage is null || rules.FindStage(record.Stage) is not { } stage)
        {
            return [];
        }

        try
        {
            return finished.RequireImageUrls(stage.Images);
        }
        catch (MjProtocolException)
        {
            return [];
        }
    }

    /// <summary>Writes JSON with a callback and returns it as an element.</summary>
    public static JsonElement Write(Action<Utf8JsonWriter> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory);
        return document.RootElement.Clone();
    }

    /// <summary>Writes the fields of a task (without braces).</summary>
    public static void WriteTaskFields(Utf8JsonWriter w, SpecRules rules, TaskRecord record, FetchResponse? finished)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        w.WriteString("task_id", record.TaskId);
        w.WriteString("operation", record.Operation);
        if (record.Status is not null)
        {
            w.WriteString("status", record.Status);
        }

        w.WriteString("state", record.State.ToString().ToLowerInvariant());
        if (record.Percentage is { } pct)
        {
            w.WriteNumber("percentage", pct);
        }

        if (record.Stage is not null)
        {
            w.WriteString("stage", record.Stage);
        }

        if (record.ResultKind is not null)
        {
            w.WriteString("result_kind", record.ResultKind);
        }

        if (record.ParentTaskId is not null)
        {
            w.WriteString("parent_task_id", record.ParentTaskId);
        }

        if (record.Error is not null)
        {
            w.WriteStartObject("error");
            w.WriteString("code", "task_failed");
            w.WriteString("message", record.Error);
            w.WriteEndObject();
        }

        if (finished is null)
        {
            return;
        }

        var urls = ImageUrls(rules, record, finished);
        if (urls.Count > 0)
        {
            w.WriteStartArray("images");
            for (var i = 0; i < urls.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("index", i + 1);
                w.WriteString("url", urls[i]);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            if (urls.Count > 1 && finished.OriginalImageUrl is { } grid)
            {
                w.WriteString("grid_image_url", grid);
            }
        }

        if (record.ResultKind is { } kind && rules.FindResult(kind) is { } result)
        {
            w.WriteStartObject("result");
            foreach (var field in result.Fields)
            {
                if (field.IsList)
                {
                    w.WriteStartArray(field.Name);
                    foreach (var item in finished.GetStringList(field.Wire) ?? [])
                    {
                        w.WriteStringValue(item);
                    }

                    w.WriteEndArray();
                }
                else
                {
                    w.WriteString(field.Name, finished.GetString(field.Wire));
                }
            }

            w.WriteEndObject();
        }
    }

    private static void WriteNextActions(Utf8JsonWriter w, IReadOnlyList<NextAction> actions)
    {
        w.WriteStartArray("next_actions");
        foreach (var action in actions)
        {
            w.WriteStartObject();
            w.WriteString("tool", action.Tool);
            WriteStrings(w, "arguments", action.Arguments);
            WriteChoices(w, "choices", action.Choices);
            WriteNeeds(w, action.Needs);
            w.WriteString("description", action.Description);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, string> values)
    {
        w.WriteStartObject(name);
        foreach (var pair in values)
        {
            w.WriteString(pair.Key, pair.Value);
        }

        w.WriteEndObject();
    }

    private static void WriteChoices(Utf8JsonWriter w, string name, IReadOnlyDictionary<string, IReadOnlyList<object>> choices)
    {
        w.WriteStartObject(name);
        foreach (var pair in choices)
        {
            w.WriteStartArray(pair.Key);
            foreach (var value in pair.Value)
            {
                switch (value)
                {
                    case int i: w.WriteNumberValue(i); break;
                    case double d: w.WriteNumberValue(d); break;
                    default: w.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
                }
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    /// <summary>A call as an agent reads it: tool(name="value", choice=1|2, need=&lt;what&gt;).</summary>
    public static string CallText(Fix call)
    {
        ArgumentNullException.ThrowIfNull(call);
        return $"{call.Tool}({Describe(call.Arguments, call.Values, call.Choices, call.Needs)})";
    }

    private static void WriteFix(Utf8JsonWriter w, Fix fix)
    {
        w.WriteStartObject();
        w.WriteString("tool", fix.Tool);
        w.WriteStartObject("arguments");
        foreach (var pair in fix.Arguments)
        {
            w.WriteString(pair.Key, pair.Value);
        }

        foreach (var pair in fix.Values)
        {
            w.WritePropertyName(pair.Key);
            pair.Value.WriteTo(w);
        }

        w.WriteEndObject();
        WriteChoices(w, "choices", fix.Choices);
        WriteNeeds(w, fix.Needs);
        if (fix.Then is not null)
        {
            w.WriteString("then", fix.Then);
        }

        if (fix.ThenCalls.Count > 0)
        {
            w.WriteStartArray("then_calls");
            foreach (var call in fix.ThenCalls)
            {
                WriteFix(w, call);
            }

            w.WriteEndArray();
        }

        w.WriteEndObject();
    }

    private static void WriteNeeds(Utf8JsonWriter w, IReadOnlyDictionary<string, Need> needs)
    {
        w.WriteStartObject("needs");
        foreach (var (name, need) in needs)
        {
            w.WriteStartObject(name);
            w.WriteString("type", need.Type);
            if (need.Stages.Count > 0)
            {
                w.WriteStartArray("stages");
                foreach (var stage in need.Stages)
                {
                    w.WriteStringValue(stage);
                }

                w.WriteEndArray();
            }

            if (need.MadeBy.Count > 0)
            {
                w.WriteStartArray("made_by");
                foreach (var maker in need.MadeBy)
                {
                    w.WriteStringValue(maker);
                }

                w.WriteEndArray();
            }

            if (need.FromPreviousCall)
            {
                w.WriteString("from", "previous_call");
            }

            w.WriteString("description", need.Description);
            w.WriteString("how", need.How);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static string Describe(IReadOnlyDictionary<string, string> arguments, IReadOnlyDictionary<string, JsonElement> values, IReadOnlyDictionary<string, IReadOnlyList<object>> choices, IReadOnlyDictionary<string, Need> needs)
    {
        var parts = arguments.Select(a => $"{a.Key}=\"{a.Value}\"")
            .Concat(values.Select(v => $"{v.Key}={Shorten(v.Value.GetRawText())}"))
            .Concat(choices.Select(c => $"{c.Key}={string.Join("|", c.Value.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))}"))
            .Concat(needs.Select(n => $"{n.Key}=<{(n.Value.FromPreviousCall ? "the task_id it returns" : n.Value.Description.TrimEnd('.'))}>"));
        return string.Join(", ", parts);
    }

    // A mask or a long prompt kept from the refused call is not repeated in full in the text.
    private static string Shorten(string json) => json.Length <= 80 ? json : json[..77] + "...";
}
