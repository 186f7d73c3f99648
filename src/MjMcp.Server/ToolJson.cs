using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MjMcp.Server;

/// <summary>A task as the tools return it (structured content); null members are left out.</summary>
internal sealed record TaskJson
{
    [JsonPropertyName("task_id")]
    public required string TaskId { get; init; }

    [JsonPropertyName("operation")]
    public required string Operation { get; init; }

    [JsonPropertyName("status")]
    public string? Status { get; init; }

    [JsonPropertyName("state")]
    public required string State { get; init; }

    [JsonPropertyName("percentage")]
    public int? Percentage { get; init; }

    [JsonPropertyName("stage")]
    public string? Stage { get; init; }

    [JsonPropertyName("result_kind")]
    public string? ResultKind { get; init; }

    [JsonPropertyName("parent_task_id")]
    public string? ParentTaskId { get; init; }

    [JsonPropertyName("error")]
    public ErrorJson? Error { get; init; }

    [JsonPropertyName("images")]
    public IReadOnlyList<ImageJson>? Images { get; init; }

    [JsonPropertyName("grid_image_url")]
    public string? GridImageUrl { get; init; }

    /// <summary>A data result's fields: a string (or null) or a list of strings each.</summary>
    [JsonPropertyName("result")]
    public IReadOnlyDictionary<string, JsonElement>? Result { get; init; }

    [JsonPropertyName("next_actions")]
    public IReadOnlyList<NextActionJson>? NextActions { get; init; }

    [JsonPropertyName("hint")]
    public string? Hint { get; init; }

    [JsonPropertyName("created_at")]
    public string? CreatedAt { get; init; }
}

/// <summary>One image of a finished task: its 1-based index (what upscale_1x takes) and URL.</summary>
internal sealed record ImageJson([property: JsonPropertyName("index")] int Index, [property: JsonPropertyName("url")] string Url);

/// <summary>What went wrong, and the call that fixes it.</summary>
internal sealed record ErrorJson
{
    [JsonPropertyName("code")]
    public required string Code { get; init; }

    [JsonPropertyName("message")]
    public required string Message { get; init; }

    [JsonPropertyName("fix")]
    public FixJson? Fix { get; init; }
}

/// <summary>A refused call's result: the error, and the task_id when the provider did accept the task.</summary>
internal sealed record RefusalJson
{
    [JsonPropertyName("task_id")]
    public string? TaskId { get; init; }

    [JsonPropertyName("error")]
    public required ErrorJson Error { get; init; }
}

/// <summary>A call the agent may make next.</summary>
internal sealed record NextActionJson
{
    [JsonPropertyName("tool")]
    public required string Tool { get; init; }

    [JsonPropertyName("arguments")]
    public required IReadOnlyDictionary<string, string> Arguments { get; init; }

    [JsonPropertyName("choices")]
    public required IReadOnlyDictionary<string, IReadOnlyList<JsonElement>> Choices { get; init; }

    [JsonPropertyName("needs")]
    public required IReadOnlyDictionary<string, NeedJson> Needs { get; init; }

    [JsonPropertyName("description")]
    public required string Description { get; init; }
}

/// <summary>A fix: a call that runs as written once its needs are filled, and the calls after it.</summary>
internal sealed record FixJson
{
    [JsonPropertyName("tool")]
    public required string Tool { get; init; }

    [JsonPropertyName("arguments")]
    public required IReadOnlyDictionary<string, JsonElement> Arguments { get; init; }

    [JsonPropertyName("choices")]
    public required IReadOnlyDictionary<string, IReadOnlyList<JsonElement>> Choices { get; init; }

    [JsonPropertyName("needs")]
    public required IReadOnlyDictionary<string, NeedJson> Needs { get; init; }

    [JsonPropertyName("then")]
    public string? Then { get; init; }

    [JsonPropertyName("then_calls")]
    public IReadOnlyList<FixJson>? ThenCalls { get; init; }
}

/// <summary>A value the agent must supply: its type, what it is and how to get one.</summary>
internal sealed record NeedJson
{
    [JsonPropertyName("type")]
    public required string Type { get; init; }

    [JsonPropertyName("stages")]
    public IReadOnlyList<string>? Stages { get; init; }

    [JsonPropertyName("made_by")]
    public IReadOnlyList<string>? MadeBy { get; init; }

    [JsonPropertyName("from")]
    public string? From { get; init; }

    [JsonPropertyName("description")]
    public required string Description { get; init; }

    [JsonPropertyName("how")]
    public required string How { get; init; }
}

/// <summary>A submit whose outcome is unknown: the provider may have created (and charged) a task for it.</summary>
internal sealed record IntentJson
{
    [JsonPropertyName("intent_id")]
    public required string IntentId { get; init; }

    [JsonPropertyName("operation")]
    public required string Operation { get; init; }

    [JsonPropertyName("parent_task_id")]
    public string? ParentTaskId { get; init; }

    [JsonPropertyName("arguments")]
    public required JsonElement Arguments { get; init; }

    [JsonPropertyName("reason")]
    public required string Reason { get; init; }

    [JsonPropertyName("created_at")]
    public required string CreatedAt { get; init; }

    [JsonPropertyName("advice")]
    public required string Advice { get; init; }
}

/// <summary>list_tasks' result: the uncertain submits and the journal's tasks, newest first.</summary>
internal sealed record ListingJson(
    [property: JsonPropertyName("uncertain")] IReadOnlyList<IntentJson> Uncertain,
    [property: JsonPropertyName("tasks")] IReadOnlyList<TaskJson> Tasks);

/// <summary>A refusal of the spending guard: the error with the budget's figures, and what to do.</summary>
internal sealed record BudgetRefusalJson([property: JsonPropertyName("error")] BudgetErrorJson Error);

/// <summary>budget_exceeded: which budget, the call's cost, what is left, and when a daily budget resets.</summary>
internal sealed record BudgetErrorJson
{
    [JsonPropertyName("code")]
    public required string Code { get; init; }

    [JsonPropertyName("message")]
    public required string Message { get; init; }

    [JsonPropertyName("budget")]
    public required string Budget { get; init; }

    [JsonPropertyName("cost")]
    public required int Cost { get; init; }

    [JsonPropertyName("remaining")]
    public required long Remaining { get; init; }

    [JsonPropertyName("budget_credits")]
    public required int BudgetCredits { get; init; }

    [JsonPropertyName("spent")]
    public required long Spent { get; init; }

    [JsonPropertyName("setting")]
    public required string Setting { get; init; }

    [JsonPropertyName("resets_at")]
    public string? ResetsAt { get; init; }

    [JsonPropertyName("fix")]
    public required FixJson Fix { get; init; }
}

/// <summary>Credits spent by this server (a process, or a UTC day of the journal), with the budget and what is left when one is set.</summary>
internal sealed record SpendJson
{
    [JsonPropertyName("date")]
    public string? Date { get; init; }

    [JsonPropertyName("spent")]
    public required long Spent { get; init; }

    [JsonPropertyName("budget")]
    public int? Budget { get; init; }

    [JsonPropertyName("remaining")]
    public long? Remaining { get; init; }
}

/// <summary>The provider's account as it reports it.</summary>
internal sealed record AccountInfoJson
{
    [JsonPropertyName("email")]
    public string? Email { get; init; }

    [JsonPropertyName("credits")]
    public long? Credits { get; init; }

    [JsonPropertyName("total_images")]
    public long? TotalImages { get; init; }

    [JsonPropertyName("plan")]
    public string? Plan { get; init; }
}

/// <summary>account's result: the provider's account and this server's spending ("process" and "day").</summary>
internal sealed record AccountJson(
    [property: JsonPropertyName("account")] AccountInfoJson Account,
    [property: JsonPropertyName("budget")] IReadOnlyDictionary<string, SpendJson>? Budget);

/// <summary>upload_image's result.</summary>
internal sealed record UploadJson([property: JsonPropertyName("image_url")] string ImageUrl);

/// <summary>
/// The tools' JSON, written by the System.Text.Json source generator: no reflection (NativeAOT-safe), and the shape
/// lives in the records above instead of in writer calls.
/// </summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(TaskJson))]
[JsonSerializable(typeof(RefusalJson))]
[JsonSerializable(typeof(ListingJson))]
[JsonSerializable(typeof(BudgetRefusalJson))]
[JsonSerializable(typeof(AccountJson))]
[JsonSerializable(typeof(UploadJson))]
[JsonSerializable(typeof(string))]
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(int))]
[JsonSerializable(typeof(double))]
internal sealed partial class ToolJsonContext : JsonSerializerContext
{
    /// <summary>A choice value (a number or a string) as JSON.</summary>
    public static JsonElement Value(object value) => value switch
    {
        int i => JsonSerializer.SerializeToElement(i, Default.Int32),
        double d => JsonSerializer.SerializeToElement(d, Default.Double),
        _ => JsonSerializer.SerializeToElement(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty, Default.String),
    };
}
