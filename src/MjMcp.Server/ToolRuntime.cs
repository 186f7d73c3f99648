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

    /// <summary>Spend control: at most this many generated tool calls submit (and wait) at once, server-wide; 0 = no cap.</summary>
    public int MaxConcurrentSubmits { get; set; }

    /// <summary>
    /// A finished task's result carries its light preview (true, the default); false: a resource link to the preview
    /// instead, made only when read (MJMCP_PREVIEWS=link).
    /// </summary>
    public bool InlinePreviews { get; set; } = true;

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
    private const string WaitArgument = ToolArguments.WaitSecondsName;
    private readonly MjClient _client;
    private readonly ITaskJournal _journal;
    private readonly ServerSettings _settings;
    private readonly PreviewService _previews;
    private readonly ILogger<ToolRuntime> _logger;
    private readonly System.Threading.RateLimiting.ConcurrencyLimiter? _submitSlots;
    private readonly CreditBudget _budget;
    private readonly JobSlots? _jobSlots;

    /// <summary>Creates the runtime.</summary>
    public ToolRuntime(MjClient client, McpSpec spec, ITaskJournal journal, ServerSettings settings, PreviewService previews, ILogger<ToolRuntime> logger, CreditBudget budget, JobSlots? jobSlots = null)
    {
        _jobSlots = jobSlots;
        _budget = budget;
        ArgumentNullException.ThrowIfNull(spec);
        _client = client;
        Rules = spec.Rules;
        _submitSlots = settings.MaxConcurrentSubmits <= 0 ? null : new System.Threading.RateLimiting.ConcurrencyLimiter(new System.Threading.RateLimiting.ConcurrencyLimiterOptions
        {
            PermitLimit = settings.MaxConcurrentSubmits,
            QueueLimit = 100_000,
            QueueProcessingOrder = System.Threading.RateLimiting.QueueProcessingOrder.OldestFirst,
        });
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
            // 1. The arguments themselves: known names, no control characters, a valid wait.
            if ((ToolArguments.Unknown(operation.ToolName, AcceptedArguments(operation), args)
                ?? ToolArguments.ControlCharacters(operation.ToolName, args)
                ?? ToolArguments.Check(operation.ToolName, [ToolArguments.WaitSeconds], args.Where(a => a.Key == WaitArgument).ToDictionary())) is { } refusal)
            {
                return refusal;
            }

            // 2. The parent and the form it selects (the rule table), 3. the form's parameters.
            var caller = TaskCaller.Of(request);
            var choice = await ChooseFormAsync(operation, args, caller, cancellationToken).ConfigureAwait(false);
            if (choice.IsRefused)
            {
                return choice.Refusal;
            }

            var (form, parentId) = (choice.Form, choice.ParentId);

            using var bodyDocument = ToolArguments.Body(form, args);
            var problems = RuleValidator.ValidateParams(form, [], bodyDocument.RootElement);
            if (problems.Count > 0)
            {
                return InvalidArguments(operation, form, parentId, args, problems, caller);
            }

            // 4. The spend cap, then the written-ahead submit and the wait.
            return await SubmitInSlotAsync(operation, form, parentId, bodyDocument.RootElement, args, request, cancellationToken).ConfigureAwait(false);
        }
        catch (MjValidationException ex)
        {
            return Refuse(RefusalCodes.InvalidArgument, ex.Message, null);
        }
        catch (MjException ex)
        {
            return ProviderError(operation.ToolName, ex);
        }
    }

    private static FormChoice Refused(CallToolResult refusal) => new(null, null, refusal);

    /// <summary>
    /// The form a call takes: the parent's (checked against the rule table and the journal: known, finished, of a stage
    /// and maker the operation accepts) or the form without a parent; or the refusal, with a fix planned from the rules.
    /// </summary>
    private async ValueTask<FormChoice> ChooseFormAsync(OperationRule operation, IDictionary<string, JsonElement> args, TaskCaller caller, CancellationToken cancellationToken)
    {
        string? parentId = null;
        FormRule form = operation.Forms[0];
        if (operation.NeedsParent)
        {
            var field = operation.Forms.First(f => f.Parent is not null).Parent!.Field;
            var stages = operation.Forms.Where(f => f.Parent is not null).SelectMany(f => f.Parent!.Stages).Distinct().ToArray();
            parentId = args.TryGetValue(field, out var parentValue) && parentValue.ValueKind == JsonValueKind.String ? parentValue.GetString() : null;

            // An operation may also have a form without a parent (upscale_highres on an image_url): exactly one of the two.
            var parentless = operation.Forms.FirstOrDefault(f => f.Parent is null);
            var parentFormWires = operation.Forms.Where(f => f.Parent is not null).SelectMany(f => f.Params).Select(p => p.Wire).ToHashSet(StringComparer.Ordinal);
            var parentlessOnly = parentless?.Params.Where(p => p.Required && !parentFormWires.Contains(p.Wire)).Select(p => p.Wire).ToList() ?? [];
            var parentlessKeys = parentlessOnly.Where(args.ContainsKey).ToList();
            if (!string.IsNullOrWhiteSpace(parentId) && parentlessKeys.Count > 0)
            {
                // The fix keeps the parent (the task the agent named) and drops the parentless form's arguments.
                var kept = args.Where(a => !parentlessKeys.Contains(a.Key, StringComparer.Ordinal)).ToDictionary(a => a.Key, a => a.Value, StringComparer.Ordinal);
                var fix = new Fix(operation.ToolName, new Dictionary<string, string>(), Empty, null) { Values = kept };
                return Refused(Refuse(RefusalCodes.ConflictingArguments, $"{operation.ToolName} takes either '{field}' or {string.Join(" and ", parentlessKeys.Select(k => "'" + k + "'"))}, not both: call it with '{field}' alone, or with {string.Join(" and ", parentlessKeys.Select(k => "'" + k + "'"))} and no '{field}'.", fix));
            }

            if (string.IsNullOrWhiteSpace(parentId) && parentless is not null && parentlessKeys.Count > 0)
            {
                parentId = null;
                form = parentless;
            }
            else if (string.IsNullOrWhiteSpace(parentId))
            {
                var alternative = parentless is null ? string.Empty : $", or {string.Join(" and ", parentlessOnly.Select(w => "'" + w + "'"))} instead";
                return Refused(Refuse(RefusalCodes.MissingParent, $"{operation.ToolName} needs '{field}': the task_id of a finished {string.Join(" or ", stages)} task{alternative}.", ParentFix(operation, args, caller)));
            }

            if (parentId is not null)
            {
                var parent = await ResolveAsync(parentId, caller, cancellationToken).ConfigureAwait(false);
                if (parent is null)
                {
                    return Refused(Refuse(RefusalCodes.UnknownTask, $"No task '{parentId}' is known here or at the provider. Use a task_id returned by an earlier call.", ParentFix(operation, args, caller)));
                }

                if (parent.State is not TaskState.Finished)
                {
                    var problem = RuleValidator.ValidateParent(operation, operation.Forms.First(f => f.Parent is not null), parentId, parent.Stage, parent.Operation, parent.State)!;
                    var fix = parent.State == TaskState.Failed ? ParentFix(operation, args, caller) : WaitThenRetry(operation, parentId, args);
                    return Refused(Refuse(parent.State == TaskState.Failed ? RefusalCodes.ParentFailed : RefusalCodes.ParentNotFinished, problem.Message, fix));
                }

                var forms = parent.Stage is null ? [] : operation.FormsForStage(parent.Stage).ToList();
                if (forms.Count == 0)
                {
                    return Refused(WrongStage(operation, parentId, parent, args, caller));
                }

                form = forms[0];
                if (RuleValidator.ValidateParent(operation, form, parentId, parent.Stage, parent.Operation, parent.State) is { } wrongMaker)
                {
                    return Refused(WrongStage(operation, parentId, parent, args, caller, wrongMaker.Message));
                }
            }
        }

        return new(form, parentId, null);
    }

    /// <summary>
    /// Spend control: at most MaxConcurrentSubmits tool calls submit and wait at once; the rest queue in arrival order,
    /// at most as long as the call's wait bound (then nothing is sent and the agent is told to call again).
    /// </summary>
    private async ValueTask<CallToolResult> SubmitInSlotAsync(OperationRule operation, FormRule form, string? parentId, JsonElement body, IDictionary<string, JsonElement> args, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        if (_submitSlots is null)
        {
            return await SubmitInJobSlotAsync(operation, form, parentId, body, args, request, cancellationToken).ConfigureAwait(false);
        }

        var queued = System.Diagnostics.Stopwatch.GetTimestamp();
        using var slot = await AcquireSlotAsync(WaitBound(args), cancellationToken).ConfigureAwait(false);
        ServerTelemetry.QueuedForSlot(queued, slot is not null);
        if (slot is null)
        {
            return Refuse(RefusalCodes.ServerBusy, $"{_settings.MaxConcurrentSubmits} provider jobs of this server are already running (the spend cap, MJMCP_MAX_CONCURRENT_SUBMITS) and none finished within this call's wait; nothing was sent. Call {operation.ToolName} again in a moment.", null);
        }

        return await SubmitInJobSlotAsync(operation, form, parentId, body, args, request, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>max_concurrent_jobs (MJMCP_MAX_CONCURRENT_JOBS): a provider job slot, held until the task is final (<see cref="JobSlots"/>).</summary>
    private async ValueTask<CallToolResult> SubmitInJobSlotAsync(OperationRule operation, FormRule form, string? parentId, JsonElement body, IDictionary<string, JsonElement> args, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken) =>
        _jobSlots is { } jobs
            ? await jobs.RunAsync(operation.ToolName, WaitBound(args), request, () => SubmitWrittenAheadAsync(operation, form, parentId, body, args, request, cancellationToken), cancellationToken).ConfigureAwait(false)
            : await SubmitWrittenAheadAsync(operation, form, parentId, body, args, request, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The submit itself, written ahead: the journal records the intent before the request, and what became of it after.
    /// Accepted → the task is kept (the task_id reaches the caller even if the journal cannot record it); an unknown
    /// outcome → the intent stays uncertain, listed by list_tasks, never resent; nothing sent → safe to retry.
    /// </summary>
    private async ValueTask<CallToolResult> SubmitWrittenAheadAsync(OperationRule operation, FormRule form, string? parentId, JsonElement body, IDictionary<string, JsonElement> args, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        string intentId;
        try
        {
            intentId = _journal.BeginIntent(operation, parentId, Redacted(form, body), TaskCaller.Of(request).Owner);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            return Refuse(RefusalCodes.JournalUnavailable, $"The task journal ({_journal.Location}) cannot be written ({ex.Message}), so {operation.ToolName} was not sent: nothing was spent. Fix the journal (or restart with --reset-journal), then call again.", null);
        }

        // Spending guard: reserves the call's credits under its intent, or refuses (budget_exceeded) before any request.
        if (_budget.Reserve(intentId, operation, body) is { } overBudget)
        {
            return overBudget;
        }

        string taskId;
        try
        {
            taskId = await _client.SubmitRawAsync(operation, form, parentId, body, intentId, cancellationToken).ConfigureAwait(false);
        }
        catch (MjValidationException ex)
        {
            // Refused by the client's own checks: nothing was sent, so the intent (and any reserved credits) is released.
            TryJournal(() => _journal.MarkIntentNotSent(intentId, ex.Message));
            return Refuse(RefusalCodes.InvalidArgument, ex.Message, null);
        }
        catch (MjException ex)
        {
            if (ex.MayHaveCreatedTask)
            {
                TryJournal(() => _journal.MarkIntentUncertain(intentId, ex.Message));
                return Refuse(
                    RefusalCodes.SubmitUncertain,
                    $"{ex.Message} This submit is kept as uncertain intent {intentId} (list_tasks shows it); if the provider made the task, its webhook attaches it there. Do not call {operation.ToolName} again blindly: that may be charged twice.",
                    new Fix("list_tasks", new Dictionary<string, string>(), Empty, "look for the task (or the uncertain intent) before calling " + operation.ToolName + " again"));
            }

            TryJournal(() => _journal.MarkIntentNotSent(intentId, ex.Message));
            return ProviderError(operation.ToolName, ex);
        }
        catch (OperationCanceledException)
        {
            // Cancelled while the request may have been on its way: the outcome is unknown.
            TryJournal(() => _journal.MarkIntentUncertain(intentId, "cancelled while sending"));
            throw;
        }

        Log.Submitted(_logger, operation.ToolName, taskId);
        ServerTelemetry.Spent(operation, body);
        if (await KeepAcceptedAsync(intentId, taskId, operation, parentId, cancellationToken).ConfigureAwait(false) is { } journalProblem)
        {
            // Accepted means kept: the caller gets the task_id even though the journal could not record it.
            return Refuse(
                RefusalCodes.JournalWriteFailed,
                $"The provider accepted {operation.ToolName} as task {taskId}, but the journal could not record it ({journalProblem}). Keep this task_id: wait_task and fetch_task work with it. Fix the journal before submitting more.",
                new Fix("wait_task", new Dictionary<string, string> { ["task_id"] = taskId }, Empty, null),
                taskId);
        }

        return await WaitAndReportAsync(taskId, WaitBound(args), request, cancellationToken).ConfigureAwait(false);
    }

    private async Task<System.Threading.RateLimiting.RateLimitLease?> AcquireSlotAsync(TimeSpan bound, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(bound > TimeSpan.Zero ? bound : TimeSpan.FromMilliseconds(1));
        try
        {
            var lease = await _submitSlots!.AcquireAsync(1, timeout.Token).ConfigureAwait(false);
            if (lease.IsAcquired)
            {
                return lease;
            }

            lease.Dispose();
            return null;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>Records an accepted submit, retrying a failed journal write a few times; returns the problem if it never succeeds.</summary>
    private async Task<string?> KeepAcceptedAsync(string intentId, string taskId, OperationRule operation, string? parentId, CancellationToken cancellationToken)
    {
        string? problem = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                _journal.AcceptIntent(intentId, taskId, operation, parentId);
                return null;
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
            {
                problem = ex.Message;
                Log.JournalRetry(_logger, taskId, attempt + 1, ex.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(100 * (attempt + 1)), CancellationToken.None).ConfigureAwait(false);
            }
        }

        _ = cancellationToken;
        return problem;
    }

    private void TryJournal(Action write)
    {
        try
        {
            write();
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            Log.JournalProblem(_logger, ex.Message);
        }
    }

    /// <summary>The wire body as the intent records it: secret parameters are never written down.</summary>
    private static string Redacted(FormRule form, JsonElement body)
    {
        var secrets = form.Params.Where(p => p.Secret).Select(p => p.Wire).ToHashSet(StringComparer.Ordinal);
        return TaskView.Write(w =>
        {
            w.WriteStartObject();
            foreach (var property in body.EnumerateObject())
            {
                if (secrets.Contains(property.Name))
                {
                    w.WriteString(property.Name, "***");
                }
                else
                {
                    property.WriteTo(w);
                }
            }

            w.WriteEndObject();
        }).GetRawText();
    }

    /// <summary>Waits for a task within the bound (with progress) and reports it.</summary>
    public async ValueTask<CallToolResult> WaitAndReportAsync(string taskId, TimeSpan bound, RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var taskScope = ServerTelemetry.TaskScope(_logger, taskId);
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
                // At once, before the first poll: the client learns the task exists (and where it stood). Polls are few
                // by design (planned from the queue phase and progress rate), so this is often the only word before the end.
                if (token is { } t)
                {
                    var known = _journal.Get(taskId);
                    var message = $"task {taskId} accepted{(known?.Percentage is { } pct ? $", {pct}%" : string.Empty)}; waiting";
                    _ = server.NotifyProgressAsync(t, new ProgressNotificationValue { Progress = known?.Percentage ?? 0, Total = 100, Message = message }, cancellationToken: CancellationToken.None);
                }

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
            return record is null ? Refuse(RefusalCodes.WaitTimeout, hint, null) : Report(record, null, hint, null);
        }
        catch (MjTaskFailedException ex)
        {
            Log.TaskFailed(_logger, taskId, ex.Reason ?? "failed");
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
        var (previewUrl, grid) = PreviewService.Choose(urls, response.OriginalImageUrl);
        if (!_settings.InlinePreviews)
        {
            // Off the call's path: no download or decode now; a client that wants to look reads the link.
            var linked = Report(record, response, null, null);
            if (previewUrl is not null)
            {
                linked.Content.Add(TaskResource.PreviewLink(taskId));
            }

            return linked;
        }

        var preview = previewUrl is null ? null : await _previews.TryGetAsync(previewUrl, taskId, grid, cancellationToken).ConfigureAwait(false);
        return Report(record, response, null, preview);
    }

    /// <summary>A task, its parent and stage as the journal (or, once, the provider) knows them.</summary>
    public Task<TaskRecord?> ResolveAsync(string taskId, CancellationToken cancellationToken) => ResolveAsync(taskId, TaskCaller.Local, cancellationToken);

    /// <summary>
    /// The task as <paramref name="caller"/> may see it: null for an unknown id and, the same, for another owner's task
    /// (asked of the provider either way). A task the journal did not know but the provider does becomes the
    /// caller's.
    /// </summary>
    internal async Task<TaskRecord?> ResolveAsync(string taskId, TaskCaller caller, CancellationToken cancellationToken)
    {
        var record = _journal.Get(taskId);
        if (record is not null && !caller.Sees(record))
        {
            // Asked of the provider like an unknown id (the answer is dropped), so another client's task and an id
            // nobody made take the same path and about the same time: neither the text nor the timing tells them apart.
            await ResolveKnownAsync(taskId, null, cancellationToken).ConfigureAwait(false);
            return null;
        }

        var claim = record is null && caller.Owner is not null;
        record = await ResolveKnownAsync(taskId, record, cancellationToken).ConfigureAwait(false);
        if (claim && record is not null && Rules.FindOperation(record.Operation) is { } operation)
        {
            // Made outside this server (or before it had owners): the first client to name it owns it from now on.
            _journal.RecordSubmitted(taskId, operation, null, caller.Owner);
            record = _journal.Get(taskId);
        }

        return caller.Sees(record) ? record : null;
    }

    private async Task<TaskRecord?> ResolveKnownAsync(string taskId, TaskRecord? record, CancellationToken cancellationToken)
    {
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
        // The tools refuse a wait_seconds that is not a whole number from 0 to ToolLimits.WaitSecondsMax before this.
        var seconds = ToolArguments.Integer(args, WaitArgument) ?? _settings.WaitSeconds;
        return TimeSpan.FromSeconds(Math.Clamp(seconds, 0, _settings.MaxWaitSeconds));
    }

    /// <summary>An error result for a failure that is not the agent's fault.</summary>
    public static CallToolResult ProviderError(string tool, MjException ex)
    {
        ArgumentNullException.ThrowIfNull(ex);
        var code = ex switch
        {
            MjAuthenticationException => RefusalCodes.ProviderAuth,
            MjRateLimitedException => RefusalCodes.RateLimited,
            MjProviderException => RefusalCodes.ProviderRefused,
            MjTransportException { MayHaveCreatedTask: true } => RefusalCodes.SubmitUncertain,
            MjTransportException => RefusalCodes.ProviderUnreachable,
            _ => RefusalCodes.ProviderError,
        };
        var fix = ex is MjTransportException { MayHaveCreatedTask: true } ? new Fix("list_tasks", new Dictionary<string, string>(), Empty, "check whether the task exists before calling " + tool + " again") : null;
        return Refuse(code, ex.Message, fix);
    }

    /// <summary>A refusal result (with the task_id when the provider did accept the task).</summary>
    public static CallToolResult Refuse(string code, string message, Fix? fix, string? taskId = null)
    {
        var (structured, text) = TaskView.Refusal(code, message, fix, taskId);
        return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = text }], StructuredContent = structured };
    }

    private static readonly IReadOnlyDictionary<string, IReadOnlyList<object>> Empty = new Dictionary<string, IReadOnlyList<object>>();

    private CallToolResult Report(TaskRecord record, FetchResponse? finished, string? hint, byte[]? preview)
    {
        var actions = record.State == TaskState.Finished ? FixPlanner.NextActions(Rules, record.TaskId, record.Stage, record.Operation) : [];
        var content = new List<ContentBlock> { new TextContentBlock { Text = TaskView.TaskText(Rules, record, finished, actions, hint) } };
        if (preview is not null)
        {
            content.Add(ImageContentBlock.FromBytes(preview, PreviewService.MimeType));
        }

        return new CallToolResult { Content = content, StructuredContent = TaskView.Task(Rules, record, finished, actions, hint) };
    }

    private CallToolResult WrongStage(OperationRule operation, string parentId, TaskRecord parent, IDictionary<string, JsonElement> args, TaskCaller caller, string? reason = null)
    {
        var needed = operation.Forms.Where(f => f.Parent is not null).SelectMany(f => f.Parent!.Stages).Distinct().ToList();
        var message = reason ?? $"Task {parentId} is {(parent.Stage is null ? $"{Wording.A(parent.ResultKind ?? "task")} without images" : Wording.A(parent.Stage))}" +
            $"{(parent.Operation.Length > 0 ? $" (made by {parent.Operation.Replace('-', '_')})" : string.Empty)}; {operation.ToolName} needs {Wording.A(needed)} task.";

        // The nearest fix the rule table allows: from this task, else from its nearest ancestor that leads there
        // (upscale_1x on this grid before an older upscaled ancestor), else from a starting operation.
        foreach (var (start, distance) in new[] { parent }.Concat(_journal.Ancestors(parentId).Where(caller.Sees)).Select((t, i) => (t, i)))
        {
            if (start.State == TaskState.Finished && start.Stage is { } stage && FixPlanner.Route(Rules, stage, start.Operation, operation) is { } route)
            {
                var where = distance == 0 ? string.Empty : $" Its ancestor {start.TaskId} is {Wording.A(stage)}.";
                return Refuse(RefusalCodes.WrongParentStage, message + where, FixPlanner.ToFix(Rules, route, start.TaskId, args));
            }
        }

        return Refuse(RefusalCodes.WrongParentStage, message, RootFix(operation, args));
    }

    /// <summary>
    /// The fix when the call lacks a usable parent: the same call with the parent as a need (a stage that has finished
    /// tasks here, the newest named), or the form that takes no parent, or a chain from a starting operation.
    /// </summary>
    private Fix? ParentFix(OperationRule operation, IDictionary<string, JsonElement> args, TaskCaller caller)
    {
        foreach (var form in operation.Forms.Where(f => f.Parent is not null))
        {
            foreach (var stage in form.Parent!.Stages)
            {
                var newest = _journal.List(stage, 200, caller.Scope).FirstOrDefault(r => r.State == TaskState.Finished && FixPlanner.Accepts(form, stage, r.Operation));
                if (newest is not null)
                {
                    var need = FixPlanner.TaskNeed(Rules, stage, form.Parent.Operations, newest.TaskId);
                    return FixPlanner.Call(Rules, operation, form, new Dictionary<string, string>(), new Dictionary<string, Need> { [form.Parent.Field] = need }, args);
                }
            }
        }

        if (operation.Forms.FirstOrDefault(f => f.Parent is null) is { } parentless)
        {
            return FixPlanner.Call(Rules, operation, parentless, new Dictionary<string, string>(), new Dictionary<string, Need>(), args);
        }

        // No task of a stage it takes yet: the shortest chain from a stage that has finished tasks here (upscale_1x on
        // a grid, then pan), the first call taking one of them; else from a starting operation.
        (IReadOnlyList<FixPlanner.Step> Route, Need Need)? best = null;
        foreach (var stage in Rules.Stages)
        {
            if (_journal.List(stage.Name, 1, caller.Scope).FirstOrDefault() is { State: TaskState.Finished } newest &&
                FixPlanner.Route(Rules, stage.Name, newest.Operation, operation) is { } route &&
                (best is null || route.Count < best.Value.Route.Count) &&
                route[0].Form.Parent is { } first)
            {
                best = (route, FixPlanner.TaskNeed(Rules, stage.Name, first.Operations, newest.TaskId));
            }
        }

        return best is { } found ? FixPlanner.ToFix(Rules, found.Route, null, found.Need, args) : RootFix(operation, args);
    }

    /// <summary>A chain from a starting operation (imagine, …) to the operation, or null when the rules reach none.</summary>
    private Fix? RootFix(OperationRule operation, IDictionary<string, JsonElement> args) =>
        FixPlanner.Route(Rules, null, null, operation) is { } route ? FixPlanner.ToFix(Rules, route, null, args) : null;

    /// <summary>Wait for the parent, then make the same call again.</summary>
    private static Fix WaitThenRetry(OperationRule operation, string parentId, IDictionary<string, JsonElement> args)
    {
        var again = new Fix(operation.ToolName, new Dictionary<string, string>(), Empty, null)
        {
            Values = args.Where(a => a.Key != WaitArgument).ToDictionary(a => a.Key, a => a.Value.Clone(), StringComparer.Ordinal),
        };
        return new Fix("wait_task", new Dictionary<string, string> { ["task_id"] = parentId }, Empty, "call " + TaskView.CallText(again)) { ThenCalls = [again] };
    }

    /// <summary>
    /// Bad or missing values: the same call with the valid values kept, a short list or a need for each other required
    /// one. A value that another form of the operation takes (strong on a grid) gets the way there in the message.
    /// </summary>
    private CallToolResult InvalidArguments(OperationRule operation, FormRule form, string? parentId, IDictionary<string, JsonElement> args, List<ValidationProblem> problems, TaskCaller caller)
    {
        var fixedArgs = new Dictionary<string, string>(StringComparer.Ordinal);
        if (parentId is not null)
        {
            fixedArgs[form.Parent!.Field] = parentId;
        }

        var message = string.Join(" ", problems.Select(p => p.Message));
        var parent = parentId is null ? null : _journal.Get(parentId);
        foreach (var problem in problems)
        {
            if (parent is null || !args.TryGetValue(problem.Parameter, out var value))
            {
                continue;
            }

            // The shortest way there, from this task or an ancestor (a hint in words; the fix itself stays on this task).
            var elsewhere = operation.Forms.Where(f => f != form && f.Parent is not null && f.Params.FirstOrDefault(p => p.Wire == problem.Parameter) is { } other && FixPlanner.IsValid(f, other, value)).ToList();
            var ways = elsewhere.Count == 0 ? [] : new[] { parent }.Concat(_journal.Ancestors(parent.TaskId).Where(caller.Sees))
                .Where(t => t.State == TaskState.Finished && t.Stage is not null)
                .Select(t => (Start: t, Route: FixPlanner.Route(Rules, t.Stage, t.Operation, operation, elsewhere.Contains)))
                .Where(w => w.Route is not null)
                .ToList();
            if (ways.Count > 0)
            {
                var shortest = ways.MinBy(w => w.Route!.Count);
                var way = FixPlanner.ToFix(Rules, shortest.Route!, shortest.Start.TaskId, args);
                message += $" {problem.Parameter}={value.GetRawText()} is for {Wording.A(elsewhere.SelectMany(f => f.Parent!.Stages).Distinct())} task: call {TaskView.CallText(way)}{(way.Then is null ? string.Empty : " then " + way.Then)}.";
            }
        }

        return Refuse(RefusalCodes.InvalidArgument, message, FixPlanner.Call(Rules, operation, form, fixedArgs, new Dictionary<string, Need>(), args));
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

    private sealed class CallbackProgress(Action<TaskProgress> report) : IProgress<TaskProgress>
    {
        public void Report(TaskProgress value) => report(value);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "{Tool} submitted task {TaskId}")]
        public static partial void Submitted(ILogger logger, string tool, string taskId);

        [LoggerMessage(2, LogLevel.Warning, "Recording accepted task {TaskId} in the journal failed (attempt {Attempt}): {Problem}")]
        public static partial void JournalRetry(ILogger logger, string taskId, int attempt, string problem);

        [LoggerMessage(3, LogLevel.Warning, "The journal could not record a submit's outcome: {Problem}")]
        public static partial void JournalProblem(ILogger logger, string problem);

        [LoggerMessage(4, LogLevel.Warning, "Task {TaskId} failed at the provider: {Reason}")]
        public static partial void TaskFailed(ILogger logger, string taskId, string reason);
    }

    /// <summary>The form a call takes (and its parent), or the refusal that ends the call.</summary>
    private readonly record struct FormChoice(FormRule? Form, string? ParentId, CallToolResult? Refusal)
    {
        [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(true, nameof(Refusal))]
        [System.Diagnostics.CodeAnalysis.MemberNotNullWhen(false, nameof(Form))]
        public bool IsRefused => Refusal is not null;
    }
}
