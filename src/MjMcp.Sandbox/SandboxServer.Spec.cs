using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using MjMcp.Imaging;
using MjMcp.Rules;

namespace MjMcp.Sandbox;

/// <summary>
/// Operations served from <see cref="SandboxOptions.Spec"/>: every operation whose path the hand-written imitation
/// does not know is answered from its forms (parameters checked with <see cref="RuleValidator"/>), its parent rules,
/// and the stage or result it produces. The hand-written operations never read the spec.
/// </summary>
public sealed partial class SandboxServer
{
    private static readonly string[] ReservedPaths = ["/fetch", "/fetch-many", "/account"];

    private static readonly string[] ReservedFields = ["task_id", "task_type", "status", "percentage", "error", "message", "image_url", "image_urls", "original_image_url"];

    private readonly List<string> _specPaths = [];

    /// <summary>The paths served generically from <see cref="SandboxOptions.Spec"/> (empty without a spec).</summary>
    public IReadOnlyList<string> SpecServedPaths => _specPaths;

    private void MapSpecOperations()
    {
        if (Options.Spec is not { } spec)
        {
            return;
        }

        foreach (var operation in spec.Operations)
        {
            var path = "/" + operation.Path.Trim().Trim('/');
            if (path.Length == 1 || HandWrittenByPath.ContainsKey(path) || ReservedPaths.Contains(path, StringComparer.Ordinal) ||
                path.StartsWith("/images/", StringComparison.Ordinal) || _specPaths.Contains(path, StringComparer.Ordinal))
            {
                continue;
            }

            var rule = operation;
            _specPaths.Add(path);
            Handler submit = (_, _, body) => Task.FromResult(SubmitFromSpec(spec, rule, path, body));
            _app.MapPost(path, context => HandleAsync(context, path, isFetch: false, submit));
        }
    }

    private (int, byte[]) SubmitFromSpec(SpecRules spec, OperationRule operation, string path, JsonElement body)
    {
        SandboxTask task;
        try
        {
            task = CreateFromSpec(spec, operation, path, body);
        }
        catch (Rejection rejection)
        {
            return (400, Error(rejection.Message));
        }

        return Accept(task, body, operation.CreditsOf(body), withoutImages: false);
    }

    private SandboxTask CreateFromSpec(SpecRules spec, OperationRule operation, string path, JsonElement body)
    {
        var (form, parent) = ChooseForm(spec, operation, path, body);
        var problems = RuleValidator.ValidateParams(form, spec.Provider.CommonParams, body);
        if (problems.Count > 0)
        {
            throw new Rejection(string.Join(" ", problems.Select(p => p.Message)));
        }

        if (Text(body, "webhook_url") is { } hook && !IsLoopback(hook))
        {
            throw new Rejection("webhook_url must be an http(s) URL on this machine (the sandbox only calls loopback).");
        }

        // A prompt the form bounds is bounded by the spec (checked above); any other prompt by the sandbox's own limit.
        if (!form.Params.Any(p => p.Wire == "prompt" && p.MaxLength is not null))
        {
            CheckPromptLength(body);
        }

        // Image URLs (image_url, image_urls, target_image_url, swap_image_url, ...) follow the hand-written operations' rule;
        // the generic operations never fetch them.
        foreach (var param in form.Params.Where(p => p.Kind is ParamKind.Url or ParamKind.UrlList &&
                     (p.Wire.EndsWith("image_url", StringComparison.Ordinal) || p.Wire.EndsWith("image_urls", StringComparison.Ordinal))))
        {
            if (!body.TryGetProperty(param.Wire, out var value))
            {
                continue;
            }

            foreach (var url in value.ValueKind == JsonValueKind.Array ? value.EnumerateArray() : Enumerable.Repeat(value, 1))
            {
                _ = CheckImageUrl(url.ValueKind == JsonValueKind.String ? url.GetString() : null, param.Wire);
            }
        }

        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var param in form.Params)
        {
            if (body.TryGetProperty(param.Wire, out var value) && value.ValueKind != JsonValueKind.Null)
            {
                parameters[param.Wire] = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
            }
        }

        var given = Text(body, "prompt");
        var prompt = !string.IsNullOrWhiteSpace(given) ? given : parent?.Prompt ?? string.Join(" ", new[] { operation.Name }.Concat(parameters.Values));
        var stage = operation.ProducesStage ? operation.Produces : null;
        var seed = (long)(Pictures.Hash(prompt + "|" + operation.Name + "|" + (parent?.Id ?? string.Empty) + "|" + string.Join(",", parameters.Select(p => p.Key + "=" + p.Value)), 0, 0) % 4_294_967_295UL);
        var task = new SandboxTask
        {
            Id = Guid.NewGuid().ToString(),
            Operation = operation.Name,
            TaskType = TaskTypeOf(operation, form, parameters),
            ParentId = parent?.Id,
            Prompt = prompt,
            Seed = seed,
            Stage = stage,
            CreatedAt = Options.TimeProvider.GetUtcNow(),
            Params = parameters,
            SpecMade = true,
            ImageCount = stage is null ? 0 : Math.Max(0, spec.FindStage(stage)?.Images ?? 1),
        };
        if (given is not null && Banned(given) is { } word)
        {
            task.Error = $"The prompt was blocked by moderation: the word '{word}' is not allowed. Change the prompt and submit again.";
        }

        return task;
    }

    /// <summary>
    /// The form of the request: with a parent id in a form's parent field, the form whose parent rule accepts the
    /// parent's stage (and making operation); without one, the operation's form that needs no parent.
    /// </summary>
    private (FormRule Form, SandboxTask? Parent) ChooseForm(SpecRules spec, OperationRule operation, string path, JsonElement body)
    {
        var withParent = operation.Forms.Where(f => f.Parent is not null).ToList();
        var withoutParent = operation.Forms.Where(f => f.Parent is null).ToList();
        if (operation.Forms.Count == 0)
        {
            return (new FormRule(operation.Name, operation.Summary, null, []), null);
        }

        string? field = null;
        string? id = null;
        foreach (var candidate in withParent.Select(f => f.Parent!.Field).Distinct(StringComparer.Ordinal))
        {
            if (Text(body, candidate) is { Length: > 0 } value)
            {
                (field, id) = (candidate, value);
                break;
            }
        }

        var allStages = withParent.SelectMany(f => f.Parent!.Stages).Distinct(StringComparer.Ordinal).ToList();
        if (field is null || id is null)
        {
            if (withoutParent.Count > 0)
            {
                return (Pick(spec, withoutParent, body), null);
            }

            throw new Rejection($"{withParent[0].Parent!.Field} is required: the task_id of a finished {string.Join(" or ", allStages)} task.");
        }

        var parent = FinishedTask(field, id, path.TrimStart('/'));
        var (stage, madeBy) = SpecStageOf(spec, parent);
        var byStage = withParent.Where(f => f.Parent!.Field == field && stage is not null && f.Parent.Stages.Contains(stage, StringComparer.Ordinal)).ToList();
        if (byStage.Count == 0)
        {
            var fix = FirstStepTo(spec, stage, allStages) is { } step ? $": call {step} on it first" : string.Empty;
            throw new Rejection($"{field} '{id}' is {(stage is null ? "not an image task" : Wording.A(stage))} (task_type {parent.TaskType}); {path} needs {Wording.A(allStages)} task{fix}.");
        }

        var byOperation = byStage.Where(f => f.Parent!.Operations.Count == 0 || f.Parent.Operations.Contains(madeBy, StringComparer.Ordinal)).ToList();
        if (byOperation.Count == 0)
        {
            var makers = byStage.SelectMany(f => f.Parent!.Operations).Distinct(StringComparer.Ordinal);
            throw new Rejection($"{field} '{id}' is {Wording.A(stage!)} made by {madeBy} (task_type {parent.TaskType}); {path} needs {Wording.A(stage!)} task made by {string.Join(" or ", makers)}.");
        }

        return (Pick(spec, byOperation, body), parent);
    }

    /// <summary>The first form whose parameters pass, else the first (whose problems are then reported).</summary>
    private static FormRule Pick(SpecRules spec, List<FormRule> forms, JsonElement body) =>
        forms.Count == 1 ? forms[0] : forms.FirstOrDefault(f => RuleValidator.ValidateParams(f, spec.Provider.CommonParams, body).Count == 0) ?? forms[0];

    /// <summary>
    /// The stage and making operation of a task as the spec sees it: remembered for tasks of spec-served operations,
    /// else from its task_type through the spec (falling back to the sandbox's own knowledge when the spec does not know it).
    /// </summary>
    private static (string? Stage, string Operation) SpecStageOf(SpecRules spec, SandboxTask task)
    {
        if (task.SpecMade)
        {
            return (task.Stage, task.Operation);
        }

        return spec.OperationOfTaskType(task.TaskType) is { } operation
            ? (operation.ProducesStage ? operation.Produces : null, operation.Name)
            : (task.Stage, task.Operation);
    }

    /// <summary>
    /// Advice: the path of an operation that turns a task of <paramref name="stage"/> into one of <paramref name="wanted"/>
    /// (from the spec, else the sandbox's own /upscale-1x from a grid to an upscaled image, as its own endpoints advise).
    /// </summary>
    private static string? FirstStepTo(SpecRules spec, string? stage, List<string> wanted) =>
        stage is null
            ? null
            : spec.Operations.FirstOrDefault(o => o.ProducesStage && wanted.Contains(o.Produces, StringComparer.Ordinal) && o.FormsForStage(stage).Any())?.Path
              ?? (stage == "grid" && wanted.Contains("upscaled", StringComparer.Ordinal) ? "/upscale-1x" : null);

    /// <summary>The operation's first task_type; a trailing * becomes the first enum or number given (variation-2), else 1.</summary>
    private static string TaskTypeOf(OperationRule operation, FormRule form, Dictionary<string, string> parameters)
    {
        var pattern = operation.TaskTypes.Count > 0 ? operation.TaskTypes[0] : operation.Name;
        if (!pattern.Contains('*', StringComparison.Ordinal))
        {
            return pattern;
        }

        var suffix = form.Params
            .Where(p => p.Kind is ParamKind.Enum or ParamKind.Int or ParamKind.Number && parameters.ContainsKey(p.Wire))
            .Select(p => parameters[p.Wire])
            .FirstOrDefault() ?? "1";
        return pattern.Replace("*", suffix, StringComparison.Ordinal);
    }

    /// <summary>Renders a spec-served task: its stage's images (a variation of the parent's image if it has one), or its result's fields.</summary>
    private void RenderFromSpec(SandboxTask task, SandboxTask? parent)
    {
        var spec = Options.Spec;
        var operation = spec?.FindOperation(task.Operation) ?? throw new InvalidOperationException($"the spec no longer declares the operation {task.Operation}.");
        if (!operation.ProducesStage)
        {
            FillResult(task, spec.FindResult(operation.Produces));
            return;
        }

        var source = SourceImage(task, parent);
        var (width, height) = source is null ? Size(task.Params.GetValueOrDefault("aspect_ratio"), Options.CandidateSize) : (source.Width, source.Height);
        var prompt = task.Prompt;
        var seed = task.Seed;
        RgbaImage Make(int variant)
        {
            var fresh = Pictures.Candidate(prompt, seed, variant, width, height);
            return source is null ? fresh : Mix(source, fresh, 0.3f);
        }

        switch (task.ImageCount)
        {
            case 4:
                SaveGrid(task, Make);
                break;
            case 1:
                SaveImage(task, "image", Make(1));
                break;
            default:
                for (var i = 1; i <= task.ImageCount; i++)
                {
                    SaveImage(task, i.ToString(CultureInfo.InvariantCulture), Make(i));
                }

                break;
        }
    }

    /// <summary>The parent's image to vary: the one an index names, else its single image, else its first.</summary>
    private RgbaImage? SourceImage(SandboxTask task, SandboxTask? parent)
    {
        if (parent is null || parent.Images.Count == 0)
        {
            return null;
        }

        var name = task.Params.GetValueOrDefault("index") is { } index && parent.Images.Contains(index) ? index
            : parent.Images.Contains("image") ? "image"
            : parent.Images.Contains("1") ? "1"
            : parent.Images[0];
        return PngCodec.Decode(File.ReadAllBytes(_store.ImagePath(parent.Id, name)));
    }

    /// <summary>Deterministic text for every field of the result: four lines for a list, one line otherwise.</summary>
    private static void FillResult(SandboxTask task, ResultRule? result)
    {
        task.ResultText = [];
        task.ResultLists = [];
        var tag = (task.Seed % 100_000).ToString(CultureInfo.InvariantCulture);
        foreach (var field in result?.Fields ?? [])
        {
            if (ReservedFields.Contains(field.Wire, StringComparer.Ordinal))
            {
                continue;
            }

            if (field.IsList)
            {
                task.ResultLists[field.Wire] = [.. Enumerable.Range(1, 4).Select(i => $"{field.Name} {i} for {task.Operation}: {task.Prompt} (#{tag})")];
            }
            else
            {
                task.ResultText[field.Wire] = $"{field.Name} for {task.Operation}: {task.Prompt} (#{tag})";
            }
        }
    }

    private static void WriteResultFields(Utf8JsonWriter w, SandboxTask task)
    {
        foreach (var (wire, text) in task.ResultText ?? [])
        {
            w.WriteString(wire, text);
        }

        foreach (var (wire, lines) in task.ResultLists ?? [])
        {
            w.WriteStartArray(wire);
            foreach (var line in lines)
            {
                w.WriteStringValue(line);
            }

            w.WriteEndArray();
        }
    }
}
