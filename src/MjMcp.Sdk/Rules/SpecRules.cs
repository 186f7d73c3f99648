using System.Globalization;
using System.Text.Json;

namespace MjMcp.Rules;

/// <summary>The kind of a parameter, as declared in the spec.</summary>
public enum ParamKind
{
    /// <summary>Text.</summary>
    String,

    /// <summary>A whole number (may travel as a string).</summary>
    Int,

    /// <summary>A number.</summary>
    Number,

    /// <summary>true or false.</summary>
    Bool,

    /// <summary>An http(s) URL.</summary>
    Url,

    /// <summary>A list of http(s) URLs.</summary>
    UrlList,

    /// <summary>An image as base64 or a data: URL.</summary>
    ImageData,

    /// <summary>One of a fixed set of strings.</summary>
    Enum,
}

/// <summary>A parameter of an operation form, with its wire name and limits.</summary>
public sealed record ParamRule(
    string Name,
    string Wire,
    ParamKind Kind,
    bool Required,
    bool Secret,
    string Summary,
    string? Default,
    IReadOnlyList<string> Values,
    double? Min,
    double? Max,
    int? MinLength,
    int? MaxLength,
    int? MinItems,
    int? MaxItems,
    string? Pattern,
    bool WireAsString);

/// <summary>The parent a form needs: a finished task of one of <paramref name="Stages"/>, made by one of <paramref name="Operations"/> (any when empty), sent in <paramref name="Field"/>.</summary>
public sealed record ParentRule(IReadOnlyList<string> Stages, IReadOnlyList<string> Operations, string Field);

/// <summary>One shape of an operation.</summary>
public sealed record FormRule(string Name, string Summary, ParentRule? Parent, IReadOnlyList<ParamRule> Params);

/// <summary>
/// Credits that depend on one enum parameter (spec: <c>credits: { by: type, values: { 2x: 1, 4x: 2 } }</c>): the
/// parameter's name and wire name, and the credits of each of its values.
/// </summary>
public sealed record CreditRule(string Param, string Wire, IReadOnlyList<CreditValue> Values);

/// <summary>The credits of one value of a <see cref="CreditRule"/> parameter.</summary>
public sealed record CreditValue(string Value, int Credits);

/// <summary>
/// One endpoint of the provider and its forms. <paramref name="Credits"/> is the cost of a call; when it depends on a
/// parameter (<paramref name="CreditsBy"/>) it is the highest value's cost and <see cref="CreditsOf"/> gives a call's.
/// </summary>
public sealed record OperationRule(
    string Name,
    string ToolName,
    string MethodName,
    string Path,
    IReadOnlyList<string> TaskTypes,
    int Credits,
    string Summary,
    string Produces,
    bool ProducesStage,
    IReadOnlyList<FormRule> Forms,
    CreditRule? CreditsBy = null)
{
    /// <summary>
    /// The credits of a call with this wire <paramref name="body"/>: the cost of its value of the <see cref="CreditsBy"/>
    /// parameter (or of that parameter's default when the body leaves it out), else <see cref="Credits"/>. A value the
    /// rule does not know costs <see cref="Credits"/> (the highest), so a budget never counts a call as cheaper than it is.
    /// </summary>
    public int CreditsOf(JsonElement body)
    {
        if (CreditsBy is not { } by)
        {
            return Credits;
        }

        string? value = null;
        if (body.ValueKind == JsonValueKind.Object && body.TryGetProperty(by.Wire, out var element))
        {
            value = element.ValueKind switch
            {
                JsonValueKind.String => element.GetString(),
                JsonValueKind.Number => element.GetRawText(),
                _ => null,
            };
        }
        else
        {
            value = Forms.SelectMany(f => f.Params).FirstOrDefault(p => string.Equals(p.Name, by.Param, StringComparison.Ordinal) && p.Default is not null)?.Default;
        }

        return by.Values.FirstOrDefault(v => string.Equals(v.Value, value, StringComparison.Ordinal))?.Credits ?? Credits;
    }

    /// <summary>The cost in words, for descriptions: "4 credits", or "1 credit with type 2x, 2 credits with type 4x".</summary>
    public string CreditsText() => CreditsBy is { } by
        ? string.Join(", ", by.Values.Select(v => Plural(v.Credits) + " with " + by.Param + " " + v.Value))
        : Plural(Credits);

    private static string Plural(int credits) => credits.ToString(CultureInfo.InvariantCulture) + (credits == 1 ? " credit" : " credits");

    /// <summary>True when some form needs a parent task.</summary>
    public bool NeedsParent => Forms.Any(f => f.Parent is not null);

    /// <summary>The forms that accept a parent of <paramref name="stage"/>.</summary>
    public IEnumerable<FormRule> FormsForStage(string stage) => Forms.Where(f => f.Parent is not null && f.Parent.Stages.Contains(stage, StringComparer.Ordinal));
}

/// <summary>A workflow stage whose finished tasks carry images.</summary>
public sealed record StageRule(string Name, string ClassName, int Images, string Summary);

/// <summary>A finished task that carries data, and its fields.</summary>
public sealed record ResultRule(string Name, string ClassName, string Summary, IReadOnlyList<ResultFieldRule> Fields);

/// <summary>A field of a result: its name, wire name and whether it is a list of strings.</summary>
public sealed record ResultFieldRule(string Name, string Wire, bool IsList, string Summary);

/// <summary>Provider status strings that mean one task state.</summary>
public sealed record StatusRule(string State, IReadOnlyList<string> Values);

/// <summary>Provider-wide wire facts.</summary>
/// <remarks>
/// The upload members describe the provider's image upload (a multipart/form-data POST to
/// <paramref name="UploadPath"/> of one file in <paramref name="UploadField"/>, answered with a JSON object
/// whose <paramref name="UploadResultField"/> holds the image's URL); all null when the spec declares none.
/// </remarks>
public sealed record ProviderRule(
    string Name,
    string BaseUrl,
    string AuthHeader,
    string AuthScheme,
    string FetchPath,
    string FetchManyPath,
    int FetchManyMin,
    int FetchManyMax,
    string AccountPath,
    IReadOnlyList<StatusRule> Statuses,
    IReadOnlyList<ParamRule> CommonParams,
    string? UploadPath = null,
    string? UploadField = null,
    string? UploadResultField = null)
{
    /// <summary>Whether the spec declares an image upload.</summary>
    public bool HasUpload => UploadPath is not null && UploadField is not null && UploadResultField is not null;
}

/// <summary>The state of a task, whatever the provider calls it.</summary>
public enum TaskState
{
    /// <summary>A status this spec does not know.</summary>
    Unknown,

    /// <summary>Accepted, waiting to start.</summary>
    Pending,

    /// <summary>Being made.</summary>
    Running,

    /// <summary>The provider retries it.</summary>
    Retrying,

    /// <summary>Done; the result is there.</summary>
    Finished,

    /// <summary>Failed for good (moderation, provider error).</summary>
    Failed,
}

/// <summary>The whole stage-rule table, generated from the spec, with lookups.</summary>
public sealed record SpecRules(
    ProviderRule Provider,
    IReadOnlyList<StageRule> Stages,
    IReadOnlyList<ResultRule> Results,
    IReadOnlyList<OperationRule> Operations)
{
    /// <summary>The operation with this spec name (upscale-1x) or tool name (upscale_1x).</summary>
    public OperationRule? FindOperation(string name) =>
        Operations.FirstOrDefault(o => string.Equals(o.Name, name, StringComparison.Ordinal) || string.Equals(o.ToolName, name, StringComparison.Ordinal));

    /// <summary>The operation whose task_type pattern matches (exact names win over a trailing *).</summary>
    public OperationRule? OperationOfTaskType(string? taskType)
    {
        if (string.IsNullOrEmpty(taskType))
        {
            return null;
        }

        OperationRule? best = null;
        var bestLength = -1;
        foreach (var operation in Operations)
        {
            foreach (var pattern in operation.TaskTypes)
            {
                var length = Match(pattern, taskType);
                if (length > bestLength)
                {
                    best = operation;
                    bestLength = length;
                }
            }
        }

        return best;
    }

    /// <summary>The stage of a task type (grid, upscaled, …), or null for results and unknown types.</summary>
    public string? StageOfTaskType(string? taskType) =>
        OperationOfTaskType(taskType) is { ProducesStage: true } operation ? operation.Produces : null;

    /// <summary>Maps a provider status string to a state.</summary>
    public TaskState StateOf(string? status)
    {
        if (status is null)
        {
            return TaskState.Unknown;
        }

        foreach (var rule in Provider.Statuses)
        {
            if (rule.Values.Contains(status, StringComparer.OrdinalIgnoreCase))
            {
                return rule.State switch
                {
                    "pending" => TaskState.Pending,
                    "running" => TaskState.Running,
                    "retrying" => TaskState.Retrying,
                    "finished" => TaskState.Finished,
                    "failed" => TaskState.Failed,
                    _ => TaskState.Unknown,
                };
            }
        }

        return TaskState.Unknown;
    }

    /// <summary>The result rule by name.</summary>
    public ResultRule? FindResult(string name) => Results.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.Ordinal));

    /// <summary>The stage rule by name.</summary>
    public StageRule? FindStage(string name) => Stages.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.Ordinal));

    // Exact match scores above any wildcard; a longer literal prefix scores higher.
    private static int Match(string pattern, string value)
    {
        if (pattern.EndsWith('*'))
        {
            var prefix = pattern[..^1];
            return value.StartsWith(prefix, StringComparison.Ordinal) ? prefix.Length : -1;
        }

        return string.Equals(pattern, value, StringComparison.Ordinal) ? int.MaxValue : -1;
    }
}
