using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// Turns tasks and refusals into what the agent reads: structured JSON (matching <see cref="OutputSchemas"/>)
/// and a short text. The JSON is the records of <see cref="ToolJsonContext"/>, written by the System.Text.Json
/// source generator: no reflection, NativeAOT-safe.
/// </summary>
public static class TaskView
{
    /// <summary>Why a submit is uncertain when the journal has no error for it: the process died while sending.</summary>
    public const string UncertainReason = "the server stopped while sending it";

    /// <summary>A task as structured content, with the calls valid next and a hint.</summary>
    public static JsonElement Task(SpecRules rules, TaskRecord record, FetchResponse? finished, IReadOnlyList<NextAction> nextActions, string? hint)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(nextActions);
        var task = ToJson(rules, record, finished) with { NextActions = nextActions.Select(ToJson).ToList(), Hint = hint };
        return JsonSerializer.SerializeToElement(task, ToolJsonContext.Default.TaskJson);
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
        var refusal = new RefusalJson { TaskId = taskId, Error = new ErrorJson { Code = code, Message = message, Fix = fix is null ? null : ToJson(fix) } };
        var structured = JsonSerializer.SerializeToElement(refusal, ToolJsonContext.Default.RefusalJson);
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

    /// <summary>list_tasks' structured content: the uncertain submits, and the tasks (no next actions) with the time each was made.</summary>
    public static JsonElement Listing(SpecRules rules, IReadOnlyList<SubmitIntent> uncertain, IReadOnlyList<TaskRecord> records)
    {
        ArgumentNullException.ThrowIfNull(uncertain);
        ArgumentNullException.ThrowIfNull(records);
        var intents = uncertain.Select(intent =>
        {
            using var arguments = JsonDocument.Parse(intent.Arguments);
            return new IntentJson
            {
                IntentId = intent.IntentId,
                Operation = intent.Operation,
                ParentTaskId = intent.ParentTaskId,
                Arguments = arguments.RootElement.Clone(),
                Reason = intent.Error ?? UncertainReason,
                CreatedAt = intent.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
                Advice = "The provider may have created this task; a webhook attaches it here when it arrives. Do not resubmit blindly (it may be charged twice).",
            };
        }).ToList();
        var tasks = records.Select(record => ToJson(rules, record, record.ResultJson is { } json ? FetchResponse.Parse(Encoding.UTF8.GetBytes(json)) : null) with
        {
            CreatedAt = record.CreatedAt.ToString("O", CultureInfo.InvariantCulture),
        }).ToList();
        return JsonSerializer.SerializeToElement(new ListingJson(intents, tasks), ToolJsonContext.Default.ListingJson);
    }

    private static TaskJson ToJson(SpecRules rules, TaskRecord record, FetchResponse? finished)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(record);
        var task = new TaskJson
        {
            TaskId = record.TaskId,
            Operation = record.Operation,
            Status = record.Status,
            State = record.State.ToString().ToLowerInvariant(),
            Percentage = record.Percentage,
            Stage = record.Stage,
            ResultKind = record.ResultKind,
            ParentTaskId = record.ParentTaskId,
            Error = record.Error is null ? null : new ErrorJson { Code = RefusalCodes.TaskFailed, Message = record.Error },
        };
        if (finished is null)
        {
            return task;
        }

        var urls = ImageUrls(rules, record, finished);
        if (urls.Count > 0)
        {
            task = task with
            {
                Images = urls.Select((url, i) => new ImageJson(i + 1, url)).ToList(),
                GridImageUrl = urls.Count > 1 ? finished.OriginalImageUrl : null,
            };
        }

        if (record.ResultKind is { } kind && rules.FindResult(kind) is { } result)
        {
            var fields = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var field in result.Fields)
            {
                fields[field.Name] = field.IsList
                    ? JsonSerializer.SerializeToElement((finished.GetStringList(field.Wire) ?? []).ToArray(), ToolJsonContext.Default.StringArray)
                    : JsonSerializer.SerializeToElement(finished.GetString(field.Wire), ToolJsonContext.Default.String);
            }

            task = task with { Result = fields };
        }

        return task;
    }

    private static NextActionJson ToJson(NextAction action) => new()
    {
        Tool = action.Tool,
        Arguments = action.Arguments,
        Choices = ToJson(action.Choices),
        Needs = ToJson(action.Needs),
        Description = action.Description,
    };

    private static FixJson ToJson(Fix fix)
    {
        var arguments = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var (name, value) in fix.Arguments)
        {
            arguments[name] = JsonSerializer.SerializeToElement(value, ToolJsonContext.Default.String);
        }

        foreach (var (name, value) in fix.Values)
        {
            arguments[name] = value;
        }

        return new FixJson
        {
            Tool = fix.Tool,
            Arguments = arguments,
            Choices = ToJson(fix.Choices),
            Needs = ToJson(fix.Needs),
            Then = fix.Then,
            ThenCalls = fix.ThenCalls.Count == 0 ? null : fix.ThenCalls.Select(ToJson).ToList(),
        };
    }

    private static Dictionary<string, IReadOnlyList<JsonElement>> ToJson(IReadOnlyDictionary<string, IReadOnlyList<object>> choices) =>
        choices.ToDictionary(c => c.Key, c => (IReadOnlyList<JsonElement>)c.Value.Select(ToolJsonContext.Value).ToList(), StringComparer.Ordinal);

    private static Dictionary<string, NeedJson> ToJson(IReadOnlyDictionary<string, Need> needs) =>
        needs.ToDictionary(
            n => n.Key,
            n => new NeedJson
            {
                Type = n.Value.Type,
                Stages = n.Value.Stages.Count == 0 ? null : n.Value.Stages,
                MadeBy = n.Value.MadeBy.Count == 0 ? null : n.Value.MadeBy,
                From = n.Value.FromPreviousCall ? "previous_call" : null,
                Description = n.Value.Description,
                How = n.Value.How,
            },
            StringComparer.Ordinal);

    /// <summary>A call as an agent reads it: tool(name="value", choice=1|2, need=&lt;what&gt;).</summary>
    public static string CallText(Fix call)
    {
        ArgumentNullException.ThrowIfNull(call);
        return $"{call.Tool}({Describe(call.Arguments, call.Values, call.Choices, call.Needs)})";
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
