using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>Server settings that tools need.</summary>
public sealed class ServerSettings
{
    /// <summary>How long a tool waits for its task by default (well under the ~60 s clients allow).</summary>
    public int WaitSeconds { get; set; } = 40;

    /// <summary>The most a tool ever waits in one call, whatever the agent asks.</summary>
    public int MaxWaitSeconds { get; set; } = 50;

    /// <summary>Describes the backend, for logs and the hello line.</summary>
    public string Backend { get; set; } = "provider";
}

/// <summary>
/// The hand-written runtime behind every generated tool: checks the arguments and the parent against
/// the stage-rule table and the journal before any request, submits, waits with progress within a
/// bound, and answers with the task, its images and the next valid actions — or with a refusal that
/// names the exact call that fixes it.
/// </summary>
public sealed partial class ToolRuntime
{
    private const string WaitArgument = "wait_seconds";
    private readonly MjClient _client;
    private readonly TaskJournal _journal;
    private readonly ServerSettings _settings;
    private readonly PreviewService _previews;
    private readonly ILogger<ToolRuntime> _logger;

    /// <summary>Creates the runtime.</summary>
    public ToolRuntime(MjClient client, McpSpec spec, TaskJournal journal, ServerSettings settings, PreviewService previews, ILogger<ToolRuntime> logger)
    {
        ArgumentNullException.ThrowIfNull(spec);
        _client = client;
        Rules = spec.Rules;
        _journal = journal;
        _settings = settings;
        _previews = previews;
        _logger = logger;
    }

    private SpecRules Rules { get; }

    /// <summary>Runs a generated tool: check, submit, wait, report.</summary>
    public async ValueTask<CallToolResult> SubmitAsync(ToolDefinition tool, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tool);
        ArgumentNullException.ThrowIfNull(request);
        var operation = tool.Operation;
        var args = request.Params?.Arguments ?? new Dictionary<string, JsonElement>();
        try
        {
            var accepted = AcceptedArguments(operation);
            if (args.Keys.FirstOrDefault(k => !accepted.Contains(k)) is { } unknown)
            {
                return Refuse("unknown_argument", $"{operation.ToolName} has no argument '{unknown}'. It takes: {string.Join(", ", accepted)}.", null);
            }

            string? parentId = null;
            FormRule form = operation.Forms[0];
            if (operation.NeedsParent)
            {
                var field = operation.Forms.First(f => f.Parent is not null).Parent!.Field;
                var stages = operation.Forms.Where(f => f.Parent is not null).SelectMany(f => f.Parent!.Stages).Distinct().ToArray();
                parentId = args.TryGetValue(field, out var parentValue) && parentValue.ValueKind == JsonValueKind.String ? parentValue.GetString() : null;
                if (string.IsNullOrWhiteSpace(parentId))
                {
                    return Refuse("missing_parent", $"{operation.ToolName} needs '{field}': the task_id of a finished {string.Join(" or ", stages)} task.", new Fix("list_tasks", new Dictionary<string, string> { ["stage"] = stages[0] }, Empty, $"call {operation.ToolName} with one of their task_ids"));
                }

                var parent = await ResolveAsync(parentId, cancellationToken).ConfigureAwait(false);
                if (parent is null)
                {
                    return Refuse("unknown_task", $"No task '{parentId}' is known here or at the provider. Use a task_id returned by an earlier call.", new Fix("list_tasks", new Dictionary<string, string>(), Empty, null));
                }

                if (parent.State is not TaskState.Finished)
                {
                    var problem = RuleValidator.ValidateParent(operation, operation.Forms.First(f => f.Parent is not null), parentId, parent.Stage, parent.Operation, parent.State)!;
                    var fix = parent.State == TaskState.Failed ? null : new Fix("wait_task", new Dictionary<string, string> { ["task_id"] = parentId }, Empty, $"call {operation.ToolName} again");
                    return Refuse(parent.State == TaskState.Failed ? "parent_failed" : "parent_not_finished", problem.Message, fix);
                }

                var forms = parent.Stage is null ? [] : operation.FormsForStage(parent.Stage).ToList();
                if (forms.Count == 0)
                {
                    return WrongStage(operation, parentId, parent);
                }

                form = forms[0];
                if (RuleValidator.ValidateParent(operation, form, parentId, parent.Stage, parent.Operation, parent.State) is { } wrongMaker)
                {
                    return WrongStage(operation, parentId, parent, wrongMaker.Message);
                }
            }

            using var bodyDocument = BuildBody(form, args);
            var problems = RuleValidator.ValidateParams(form, [], bodyDocument.RootElement);
            if (problems.Count > 0)
            {
                var fixedArgs = new Dictionary<string, string>(StringComparer.Ordinal);
                if (parentId is not null)
                {
                    fixedArgs[form.Parent!.Field] = parentId;
                }

                var choices = new Dictionary<string, IReadOnlyList<object>>(StringComparer.Ordinal);
                foreach (var problem in problems)
                {
                    if (form.Params.FirstOrDefault(p => p.Wire == problem.Parameter) is { } param && TaskView.Choices(param) is { } values)
                    {
                        choices[param.Wire] = values;
                    }
                }

                return Refuse("invalid_argument", string.Join(" ", problems.Select(p => p.Message)), new Fix(operation.ToolName, fixedArgs, choices, null));
            }

            var taskId = await _client.SubmitRawAsync(operation, form, parentId, bodyDocument.RootElement, cancellationToken).ConfigureAwait(false);
            _journal.RecordSubmitted(taskId, operation, parentId);
            Log.Submitted(_logger, operation.ToolName, taskId);
            return await WaitAndReportAsync(taskId, WaitBound(args), request, cancellationToken).ConfigureAwait(false);
        }
        catch (MjValidationException ex)
        {
            return Refuse("invalid_argument", ex.Message, null);
        }
        catch (MjException ex)
        {
            return ProviderError(operation.ToolName, ex);
        }
    }

    /// <summary>Waits for a task within the bound (with progress) and reports it.</summary>
    public async ValueTask<CallToolResult> WaitAndReportAsync(string taskId, TimeSpan bound, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var token = request.Params?.ProgressToken;
        var server = request.Server;
        var progress = new CallbackProgress(p =>
        {
            _journal.UpdateProgress(p);
            if (token is { } t)
            {
                var message = p.Percentage is { } pct ? $"{p.Status ?? p.State.ToString()} {pct}%" : p.Status ?? p.State.ToString();
                _ = server.NotifyProgressAsync(t, new ProgressNotificationValue { Progress = p.Percentage ?? 0, Total = 100, Message = message }, cancellationToken: CancellationToken.None);
            }
        });

        try
        {
            FetchResponse response;
            if (bound <= TimeSpan.Zero)
            {
                response = await _client.FetchAsync(taskId, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                response = await _client.WaitAsync(taskId, progress, bound, cancellationToken).ConfigureAwait(false);
            }

            _journal.ApplyFetch(response, Rules);
            return await ReportAsync(taskId, response, cancellationToken).ConfigureAwait(false);
        }
        catch (MjWaitTimeoutException ex)
        {
            var record = _journal.Get(taskId);
            var pct = ex.Last?.Percentage;
            var hint = $"Still running{(pct is null ? string.Empty : $" ({pct}%)")}. Call wait_task with task_id \"{taskId}\" to keep waiting.";
            return record is null ? Refuse("wait_timeout", hint, null) : Report(record, null, hint, null);
        }
        catch (MjTaskFailedException ex)
        {
            _journal.MarkFailed(taskId, ex.Reason ?? "failed");
            var record = _journal.Get(taskId)!;
            var result = Report(record, null, "The task failed; nothing can be made from it. Change the prompt (moderation) or start again.", null);
            result.IsError = true;
            return result;
        }
    }

    /// <summary>Reports a task from a /fetch reply: finished ones with images and next actions.</summary>
    public async ValueTask<CallToolResult> ReportAsync(string taskId, FetchResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        var record = _journal.Get(taskId) ?? throw new MjProtocolException($"Task {taskId} is not in the journal.");
        if (record.State != TaskState.Finished)
        {
            var hint = record.State == TaskState.Failed ? null : $"Not finished yet. Call wait_task with task_id \"{taskId}\" to wait for it.";
            var pending = Report(record, null, hint, null);
            pending.IsError = record.State == TaskState.Failed ? true : null;
            return pending;
        }

        var urls = TaskView.ImageUrls(Rules, record, response);
        var previewUrl = urls.Count > 1 ? response.OriginalImageUrl ?? urls[0] : urls.FirstOrDefault();
        var preview = previewUrl is null ? null : await _previews.TryGetAsync(previewUrl, cancellationToken).ConfigureAwait(false);
        return Report(record, response, null, preview);
    }

    /// <summary>A task, its parent and stage as the journal (or, once, the provider) knows them.</summary>
    public async Task<TaskRecord?> ResolveAsync(string taskId, CancellationToken cancellationToken)
    {
        var record = _journal.Get(taskId);
        if (record is { State: TaskState.Finished or TaskState.Failed })
        {
            return record;
        }

        try
        {
            var response = await _client.FetchAsync(taskId, cancellationToken).ConfigureAwait(false);
            if (string.IsNullOrEmpty(response.TaskType) && Rules.StateOf(response.Status) == TaskState.Unknown)
            {
                return null;
            }

            _journal.ApplyFetch(response, Rules);
            return _journal.Get(taskId);
        }
        catch (MjProviderException ex) when ((int)ex.StatusCode is 400 or 404)
        {
            return null;
        }
    }

    /// <summary>The wait bound of a call: the agent's wait_seconds, capped, or the default.</summary>
    public TimeSpan WaitBound(IDictionary<string, JsonElement> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var seconds = _settings.WaitSeconds;
        if (args.TryGetValue(WaitArgument, out var value))
        {
            if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n))
            {
                seconds = n;
            }
            else if (value.ValueKind == JsonValueKind.String && int.TryParse(value.GetString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s))
            {
                seconds = s;
            }
        }

        return TimeSpan.FromSeconds(Math.Clamp(seconds, 0, _settings.MaxWaitSeconds));
    }

    /// <summary>An error result for a failure that is not the agent's fault.</summary>
    public static CallToolResult ProviderError(string tool, MjException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var code = ex switch
        {
            MjAuthenticationException => "provider_auth",
            MjRateLimitedException => "rate_limited",
            MjProviderException => "provider_refused",
            MjTransportException { MayHaveCreatedTask: true } => "submit_uncertain",
            MjTransportException => "provider_unreachable",
            _ => "provider_error",
        };
        var fix = ex is MjTransportException { MayHaveCreatedTask: true } ? new Fix("list_tasks", new Dictionary<string, string>(), Empty, "check whether the task exists before calling " + tool + " again") : null;
        return Refuse(code, ex.Message, fix);
    }

    /// <summary>A refusal result.</summary>
    public static CallToolResult Refuse(string code, string message, Fix? fix)
    {
        var (structured, text) = TaskView.Refusal(code, message, fix);
        return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = text }], StructuredContent = structured };
    }

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<object>> Empty = new Dictionary<string, IReadOnlyList<object>>();

    private CallToolResult Report(TaskRecord record, FetchResponse? finished, string? hint, byte[]? preview)
    {
        var actions = record.State == TaskState.Finished ? TaskView.NextActions(Rules, record.TaskId, record.Stage, record.Operation) : [];
        var content = new List<ContentBlock> { new TextContentBlock { Text = TaskView.TaskText(Rules, record, finished, actions, hint) } };
        if (preview is not null)
        {
            content.Add(ImageContentBlock.FromBytes(preview, "image/png"));
        }

        return new CallToolResult { Content = content, StructuredContent = TaskView.Task(Rules, record, finished, actions, hint) };
    }

    private CallToolResult WrongStage(OperationRule operation, string parentId, TaskRecord parent, string? reason = null)
    {
        var needed = operation.Forms.Where(f => f.Parent is not null).SelectMany(f => f.Parent!.Stages).Distinct().ToList();
        var message = reason ?? $"Task {parentId} is {(parent.Stage is null ? $"{Wording.A(parent.ResultKind ?? "task")} without images" : Wording.A(parent.Stage))}" +
            $"{(parent.Operation.Length > 0 ? $" (made by {parent.Operation.Replace('-', '_')})" : string.Empty)}; {operation.ToolName} needs {Wording.A(needed)} task.";

        // 1. An ancestor of the right stage: use it instead (e.g. the upscaled parent of an upscale_alt result).
        foreach (var ancestor in _journal.Ancestors(parentId))
        {
            if (ancestor.Stage is { } stage && operation.FormsForStage(stage).Any(f => f.Parent!.Operations.Count == 0 || f.Parent.Operations.Contains(ancestor.Operation, StringComparer.Ordinal)))
            {
                var field = operation.FormsForStage(stage).First().Parent!.Field;
                return Refuse("wrong_parent_stage", $"{message} Its ancestor {ancestor.TaskId} is {Wording.A(stage)}.", new Fix(operation.ToolName, new Dictionary<string, string> { [field] = ancestor.TaskId }, ChoicesOf(operation.FormsForStage(stage).First()), null));
            }
        }

        // 2. One step that turns this stage into a stage the operation accepts (grid → upscale_1x → pan).
        if (parent.Stage is { } current)
        {
            foreach (var bridge in Rules.Operations.Where(o => o.ProducesStage && needed.Contains(o.Produces, StringComparer.Ordinal)))
            {
                if (bridge.FormsForStage(current).FirstOrDefault(f => f.Parent!.Operations.Count == 0 || f.Parent.Operations.Contains(parent.Operation, StringComparer.Ordinal)) is { } form)
                {
                    return Refuse("wrong_parent_stage", message, new Fix(bridge.ToolName, new Dictionary<string, string> { [form.Parent!.Field] = parentId }, ChoicesOf(form), $"call {operation.ToolName} with the new task's task_id"));
                }
            }
        }

        return Refuse("wrong_parent_stage", message, null);
    }

    private static Dictionary<string, IReadOnlyList<object>> ChoicesOf(FormRule form)
    {
        var choices = new Dictionary<string, IReadOnlyList<object>>(StringComparer.Ordinal);
        foreach (var param in form.Params.Where(p => p.Required))
        {
            if (TaskView.Choices(param) is { } values)
            {
                choices[param.Wire] = values;
            }
        }

        return choices;
    }

    private static HashSet<string> AcceptedArguments(OperationRule operation)
    {
        var set = new HashSet<string>(StringComparer.Ordinal) { WaitArgument };
        foreach (var form in operation.Forms)
        {
            if (form.Parent is not null)
            {
                set.Add(form.Parent.Field);
            }

            foreach (var param in form.Params)
            {
                set.Add(param.Wire);
            }
        }

        return set;
    }

    /// <summary>The wire body of a form from the tool arguments (integers that travel as strings are converted).</summary>
    private static JsonDocument BuildBody(FormRule form, IDictionary<string, JsonElement> args)
    {
        var json = TaskView.Write(w =>
        {
            w.WriteStartObject();
            foreach (var param in form.Params)
            {
                if (!args.TryGetValue(param.Wire, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    continue;
                }

                if (param.Kind == ParamKind.Int && param.WireAsString && value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number))
                {
                    w.WriteString(param.Wire, number.ToString(CultureInfo.InvariantCulture));
                }
                else
                {
                    w.WritePropertyName(param.Wire);
                    value.WriteTo(w);
                }
            }

            w.WriteEndObject();
        });
        return JsonDocument.Parse(json.GetRawText());
    }

    private sealed class CallbackProgress(Action<TaskProgress> report) : IProgress<TaskProgress>
    {
        public void Report(TaskProgress value) => report(value);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "{Tool} submitted task {TaskId}")]
        public static partial void Submitted(ILogger logger, string tool, string taskId);
    }
}
