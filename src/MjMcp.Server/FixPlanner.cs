using System.Globalization;
using System.Text.Json;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// Plans the fixes of refused calls from the stage-rule table alone (no per-tool code): the operations form a graph
/// over (stage, making operation) states, and a fix is the cheapest chain of calls from the nearest usable task (the
/// refused parent itself, then its ancestors, then nothing: a starting operation) to a form of the wanted operation.
/// Every call of a fix runs as written once its <c>needs</c> are filled. The next actions of a finished task come from
/// the same table.
/// </summary>
public static class FixPlanner
{
    // A search over at most |stages| x |operations| states; chains longer than this are not fixes an agent follows.
    private const int MaxCalls = 5;

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

    /// <summary>One call of a plan: an operation and the form it uses.</summary>
    public sealed record Step(OperationRule Operation, FormRule Form);

    /// <summary>
    /// The cheapest chain of calls from a finished task of <paramref name="stage"/> made by <paramref name="maker"/>
    /// (or, with a null stage, from nothing) to a form of <paramref name="target"/> that <paramref name="targetForm"/> accepts;
    /// fewest calls first, then fewest values without a short list. Null when the rules reach none.
    /// </summary>
    public static IReadOnlyList<Step>? Route(SpecRules rules, string? stage, string? maker, OperationRule target, Func<FormRule, bool>? targetForm = null)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(target);
        targetForm ??= _ => true;
        // Priority: (cost, insertion order), so equal costs keep the spec's order of operations.
        var queue = new PriorityQueue<(string? Stage, string? Maker, List<Step> Path, bool Done), (int Cost, int Order)>();
        var order = 0;
        queue.Enqueue((stage, maker, [], false), (0, order++));
        var seen = new HashSet<(string?, string?)>();
        while (queue.TryDequeue(out var item, out var priority))
        {
            if (item.Done)
            {
                return item.Path;
            }

            if (!seen.Add((item.Stage, item.Maker)) || item.Path.Count >= MaxCalls)
            {
                continue;
            }

            foreach (var operation in rules.Operations)
            {
                foreach (var form in operation.Forms.Where(f => Accepts(f, item.Stage, item.Maker)))
                {
                    var path = new List<Step>(item.Path) { new(operation, form) };

                    // Cost: calls dominate; then values the agent must find itself.
                    var cost = priority.Cost + 1000 + (10 * NeedsCount(form));
                    if (string.Equals(operation.Name, target.Name, StringComparison.Ordinal) && targetForm(form))
                    {
                        queue.Enqueue((null, null, path, true), (cost, order++));
                    }

                    if (operation.ProducesStage)
                    {
                        queue.Enqueue((operation.Produces, operation.Name, path, false), (cost, order++));
                    }
                }
            }
        }

        return null;
    }

    /// <summary>Whether a form takes a task of <paramref name="stage"/> made by <paramref name="maker"/> (a null stage: the form takes no parent).</summary>
    public static bool Accepts(FormRule form, string? stage, string? maker)
    {
        ArgumentNullException.ThrowIfNull(form);
        if (stage is null)
        {
            return form.Parent is null;
        }

        return form.Parent is { } parent && parent.Stages.Contains(stage, StringComparer.Ordinal) &&
            (parent.Operations.Count == 0 || maker is null || parent.Operations.Contains(maker, StringComparer.Ordinal));
    }

    /// <summary>
    /// A plan as a fix: its first call, with the later calls in <see cref="Fix.ThenCalls"/>. The first call starts from
    /// <paramref name="startTaskId"/>; the last one keeps the refused call's valid values (<paramref name="args"/>).
    /// </summary>
    public static Fix ToFix(SpecRules rules, IReadOnlyList<Step> route, string? startTaskId, IDictionary<string, JsonElement> args) =>
        ToFix(rules, route, startTaskId, null, args);

    /// <summary>A plan as a fix whose first call takes a task the agent picks (<paramref name="startNeed"/>) when <paramref name="startTaskId"/> is null.</summary>
    public static Fix ToFix(SpecRules rules, IReadOnlyList<Step> route, string? startTaskId, Need? startNeed, IDictionary<string, JsonElement> args)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(route);
        var calls = new List<Fix>();
        for (var i = 0; i < route.Count; i++)
        {
            var (operation, form) = route[i];
            var arguments = new Dictionary<string, string>(StringComparer.Ordinal);
            var needs = new Dictionary<string, Need>(StringComparer.Ordinal);
            if (form.Parent is { } parent)
            {
                if (i == 0 && startTaskId is not null)
                {
                    arguments[parent.Field] = startTaskId;
                }
                else if (i == 0 && startNeed is not null)
                {
                    needs[parent.Field] = startNeed;
                }
                else if (i > 0)
                {
                    var made = route[i - 1].Operation;
                    needs[parent.Field] = new Need("task_id", $"The task_id of the {made.Produces} task that {made.ToolName} makes.", $"the task_id the previous call ({made.ToolName}) returns")
                    {
                        Stages = [made.Produces],
                        FromPreviousCall = true,
                    };
                }
            }

            calls.Add(Call(rules, operation, form, arguments, needs, i == route.Count - 1 ? args : null));
        }

        var first = calls[0];
        return calls.Count == 1 ? first : first with
        {
            ThenCalls = calls.Skip(1).ToList(),
            Then = string.Join(", then ", calls.Skip(1).Select(c => "call " + TaskView.CallText(c))),
        };
    }

    /// <summary>
    /// One call of <paramref name="operation"/> in <paramref name="form"/>: the given arguments and needs, the values of
    /// <paramref name="keep"/> that this form accepts, a short list for every other required parameter, and a need for the rest.
    /// </summary>
    public static Fix Call(SpecRules rules, OperationRule operation, FormRule form, IReadOnlyDictionary<string, string> arguments, IReadOnlyDictionary<string, Need> needs, IDictionary<string, JsonElement>? keep)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentNullException.ThrowIfNull(needs);
        var values = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        var choices = new Dictionary<string, IReadOnlyList<object>>(StringComparer.Ordinal);
        var allNeeds = new Dictionary<string, Need>(needs, StringComparer.Ordinal);
        foreach (var param in form.Params)
        {
            if (arguments.ContainsKey(param.Wire) || allNeeds.ContainsKey(param.Wire))
            {
                continue;
            }

            if (keep is not null && keep.TryGetValue(param.Wire, out var value) && IsValid(form, param, value))
            {
                values[param.Wire] = value.Clone();
            }
            else if (!param.Required)
            {
                continue;
            }
            else if (Choices(param) is { } list)
            {
                choices[param.Wire] = list;
            }
            else
            {
                allNeeds[param.Wire] = NeedOf(rules, param);
            }
        }

        return new Fix(operation.ToolName, arguments, choices, null) { Values = values, Needs = allNeeds };
    }

    /// <summary>Whether one value passes the rules of its parameter.</summary>
    public static bool IsValid(FormRule form, ParamRule param, JsonElement value)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(param);
        if (value.ValueKind == JsonValueKind.Null)
        {
            return false;
        }

        var body = TaskView.Write(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName(param.Wire);
            value.WriteTo(w);
            w.WriteEndObject();
        });
        return RuleValidator.ValidateParams(form with { Params = [param] }, [], body).Count == 0;
    }

    /// <summary>What an agent must supply for a parameter with no short list of values, and where it gets one.</summary>
    public static Need NeedOf(SpecRules rules, ParamRule param)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(param);
        var upload = rules.Provider.HasUpload ? ", or upload_image returns one for your own image" : string.Empty;
        var range = param.Min is { } min && param.Max is { } max ? $"from {Number(min)} to {Number(max)}" : "any";
        return param.Kind switch
        {
            ParamKind.Url => new Need("url", param.Summary, "an http(s) image URL: the url of an image in an earlier result (images[].url)" + upload),
            ParamKind.UrlList => new Need("url_list", param.Summary, $"a list of {param.MinItems ?? 1} to {param.MaxItems?.ToString(CultureInfo.InvariantCulture) ?? "any number of"} http(s) image URLs: urls of images in earlier results (images[].url){upload}"),
            ParamKind.ImageData => new Need("image_data", param.Summary, "a PNG you make yourself, sent as base64 or a data: URL"),
            ParamKind.Int => new Need("integer", param.Summary, $"a whole number, {range}"),
            ParamKind.Number => new Need("number", param.Summary, $"a number, {range}"),
            ParamKind.Bool => new Need("boolean", param.Summary, "true or false"),
            _ when param.Pattern is not null => new Need("string", param.Summary, "text in this format: " + param.Summary),
            _ => new Need("string", param.Summary, $"text you write{(param.MaxLength is { } length ? $" (at most {length} characters)" : string.Empty)}"),
        };
    }

    /// <summary>The need for a parent: a finished task of <paramref name="stage"/> (made by one of <paramref name="madeBy"/>), with the newest one known.</summary>
    public static Need TaskNeed(SpecRules rules, string stage, IReadOnlyList<string> madeBy, string? newest)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(madeBy);
        var makers = madeBy.Count > 0 ? madeBy.Select(Tool).ToList() : rules.Operations.Where(o => o.ProducesStage && o.Produces == stage).Select(o => o.ToolName).ToList();
        var by = madeBy.Count > 0 ? $" made by {string.Join(" or ", makers)}" : string.Empty;
        var listed = $"list_tasks with stage \"{stage}\" lists them{(newest is null ? string.Empty : $" (the newest: {newest})")}; {string.Join(" or ", makers)} make{(makers.Count == 1 ? "s" : string.Empty)} one";
        return new Need("task_id", $"The task_id of a finished {stage} task{by}.", listed) { Stages = [stage], MadeBy = madeBy.Select(Tool).ToList() };

        string Tool(string operation) => rules.FindOperation(operation)?.ToolName ?? operation;
    }

    private static int NeedsCount(FormRule form) => form.Params.Count(p => p.Required && Choices(p) is null);

    private static string Number(double value) => value.ToString(CultureInfo.InvariantCulture);
}
