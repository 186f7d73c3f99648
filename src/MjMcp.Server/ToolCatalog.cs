using System.Globalization;
using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Microsoft.Extensions.DependencyInjection;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// Every tool of the server: the generated ones (one per spec operation) and the hand-written ones.
/// Tools are made once at start-up; each call finds its services through the request's provider.
/// </summary>
public sealed class ToolCatalog
{
    private readonly ToolRuntime _runtime;
    private readonly MjClient _client;
    private readonly ITaskJournal _journal;
    private readonly SpecRules _rules;

    private ToolCatalog(IServiceProvider services)
    {
        _runtime = services.GetRequiredService<ToolRuntime>();
        _client = services.GetRequiredService<MjClient>();
        _journal = services.GetRequiredService<ITaskJournal>();
        _rules = services.GetRequiredService<McpSpec>().Rules;
        _budget = services.GetRequiredService<CreditBudget>();
    }

    private readonly CreditBudget _budget;

    private static readonly Fix FindTask = new("list_tasks", new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<object>>(), "call again with one of their task_ids");

    private static readonly IReadOnlyList<ParamRule> FetchParams = [ToolArguments.TaskId("The task_id returned by an earlier call.")];

    private static readonly IReadOnlyList<ParamRule> WaitParams = [ToolArguments.TaskId("The task_id to wait for."), ToolArguments.WaitSeconds];

    /// <summary>list_tasks' arguments: the stage (or result kind) names come from the spec.</summary>
    private static IReadOnlyList<ParamRule> ListParams(SpecRules rules) =>
    [
        ToolArguments.Param("stage", ParamKind.Enum, required: false, "Only tasks of this stage or result kind.", values: rules.Stages.Select(s => s.Name).Concat(rules.Results.Select(r => r.Name)).ToArray()),
        ToolArguments.Param("parent_task_id", ParamKind.String, required: false, "Only the tasks made from this task (its children), to walk the lineage.", minLength: 1),
        ToolArguments.ListLimit,
    ];

    /// <summary>The tools in the order tools/list shows them.</summary>
    public static IEnumerable<McpServerTool> Tools(McpSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        foreach (var definition in spec.Tools)
        {
            var tool = definition;
            yield return new SpecTool(tool.Name, tool.Title, tool.Description, ToolArguments.WithWaitSeconds(tool.InputSchema), tool.ReadOnly, tool.Idempotent, tool.OpenWorld, (request, ct) => Of(request)._runtime.SubmitAsync(tool, request, ct), OutputSchemas.ForOperation(spec.Rules, tool.Operation));
        }

        yield return new SpecTool(
            "fetch_task",
            "Fetch a task",
            "Ask the provider for a task's current status and, when finished, its images and next_actions. Does not wait; use wait_task to wait.",
            ToolArguments.Schema(FetchParams),
            readOnly: true,
            idempotent: true,
            openWorld: true,
            (request, ct) => Of(request).FetchAsync(request, ct));
        yield return new SpecTool(
            "wait_task",
            "Wait for a task",
            "Wait for a task to finish, with progress, up to wait_seconds (capped below the client's time-out); returns its images and next_actions, or its status if still running. Works for any task, also one started before a restart.",
            ToolArguments.Schema(WaitParams),
            readOnly: true,
            idempotent: true,
            openWorld: true,
            (request, ct) => Of(request).WaitAsync(request, ct));
        yield return new SpecTool(
            "list_tasks",
            "List tasks",
            "List the tasks this server knows (newest first) from its journal, optionally only one stage: grid, upscaled, hires, image (or a result kind: seed, prompts, shortened), or only the children of parent_task_id. Use it to find a task_id to continue from.",
            ToolArguments.Schema(ListParams(spec.Rules)),
            readOnly: true,
            idempotent: true,
            openWorld: false,
            (request, _) => Of(request).ListAsync(request),
            OutputSchemas.Listing());
        yield return new SpecTool(
            "account",
            "Account credits",
            "Show the provider account's remaining credits and plan, and the credits this server spent (this process and this UTC day) with what is left of its budgets.",
            ToolArguments.Schema([]),
            readOnly: true,
            idempotent: true,
            openWorld: true,
            (request, ct) => Of(request).AccountAsync(request, ct),
            OutputSchemas.Account());
        if (spec.Rules.Provider.HasUpload)
        {
            yield return UploadImageTool.Create();
        }
    }

    private async ValueTask<CallToolResult> FetchAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var args = Arguments(request);
        if (ToolArguments.Check("fetch_task", FetchParams, args, FindTask) is { } refusal)
        {
            return refusal;
        }

        var taskId = ToolArguments.Text(args, "task_id")!;

        try
        {
            if (await _runtime.ResolveAsync(taskId, cancellationToken).ConfigureAwait(false) is null)
            {
                return UnknownTask(taskId);
            }

            var response = await _client.FetchAsync(taskId, cancellationToken).ConfigureAwait(false);
            _journal.ApplyFetch(response, _rules);
            return await _runtime.ReportAsync(taskId, response, cancellationToken).ConfigureAwait(false);
        }
        catch (MjException ex)
        {
            return ToolRuntime.ProviderError("fetch_task", ex);
        }
    }

    private async ValueTask<CallToolResult> WaitAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var args = Arguments(request);
        if (ToolArguments.Check("wait_task", WaitParams, args, FindTask) is { } refusal)
        {
            return refusal;
        }

        var taskId = ToolArguments.Text(args, "task_id")!;

        try
        {
            if (await _runtime.ResolveAsync(taskId, cancellationToken).ConfigureAwait(false) is null)
            {
                return UnknownTask(taskId);
            }

            return await _runtime.WaitAndReportAsync(taskId, _runtime.WaitBound(args), request, cancellationToken).ConfigureAwait(false);
        }
        catch (MjException ex)
        {
            return ToolRuntime.ProviderError("wait_task", ex);
        }
    }

    private ValueTask<CallToolResult> ListAsync(RequestContext<CallToolRequestParams> request)
    {
        var args = Arguments(request);
        var rules = _rules;
        if (ToolArguments.Check("list_tasks", ListParams(rules), args) is { } refusal)
        {
            return ValueTask.FromResult(refusal);
        }

        var stage = ToolArguments.Text(args, "stage");
        var limit = (int)(ToolArguments.Integer(args, "limit") ?? ToolLimits.ListLimitDefault);
        var parent = ToolArguments.Text(args, "parent_task_id");
        var records = parent is null ? _journal.List(stage, limit) : _journal.Children(parent).Where(r => stage is null || r.Stage == stage || r.ResultKind == stage).Take(limit).ToList();

        // Submits whose outcome is unknown: the provider may have made (and charged) a task for each.
        var uncertain = _journal.UncertainIntents(limit)
            .Where(i => (parent is null || i.ParentTaskId == parent) && (stage is null || _rules.FindOperation(i.Operation)?.Produces == stage))
            .ToList();
        var structured = TaskView.Listing(rules, uncertain, records);
        var text = records.Count == 0
            ? "No tasks yet. Start with imagine."
            : string.Join("\n", records.Select(r => $"{r.TaskId}  {r.Operation,-16} {(r.Stage ?? r.ResultKind ?? "?"),-10} {r.State.ToString().ToLowerInvariant()}{(r.ParentTaskId is null ? string.Empty : "  parent " + r.ParentTaskId)}"));
        if (uncertain.Count > 0)
        {
            text += "\nUncertain submits (the provider may have made these; do not resubmit blindly):\n" +
                string.Join("\n", uncertain.Select(i => $"intent {i.IntentId}  {i.Operation,-16} {(i.ParentTaskId is null ? string.Empty : "parent " + i.ParentTaskId + "  ")}{i.Error ?? TaskView.UncertainReason}"));
        }
        return ValueTask.FromResult(new CallToolResult { Content = [new TextContentBlock { Text = text }], StructuredContent = structured });
    }

    private async ValueTask<CallToolResult> AccountAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        if (ToolArguments.Check("account", [], Arguments(request)) is { } refusal)
        {
            return refusal;
        }

        try
        {
            var account = await _client.GetAccountAsync(cancellationToken).ConfigureAwait(false);
            var info = new AccountInfoJson { Email = account.Email, Credits = account.Credits, TotalImages = account.TotalImages, Plan = account.Plan };
            var structured = JsonSerializer.SerializeToElement(new AccountJson(info, _budget.Status()), ToolJsonContext.Default.AccountJson);
            return new CallToolResult
            {
                Content = [new TextContentBlock { Text = $"Credits: {account.Credits?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}; plan: {account.Plan ?? "unknown"}; images made: {account.TotalImages?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}. {_budget.StatusText()}" }],
                StructuredContent = structured,
            };
        }
        catch (MjException ex)
        {
            return ToolRuntime.ProviderError("account", ex);
        }
    }

    private static ToolCatalog Of(RequestContext<CallToolRequestParams> request) =>
        new(request.Services ?? throw new InvalidOperationException("The MCP request carries no service provider."));

    private static IDictionary<string, JsonElement> Arguments(RequestContext<CallToolRequestParams> request) =>
        request.Params?.Arguments ?? new Dictionary<string, JsonElement>();

    private static CallToolResult UnknownTask(string taskId) =>
        ToolRuntime.Refuse(RefusalCodes.UnknownTask, $"No task '{taskId}' is known here or at the provider. Use a task_id returned by an earlier call.", new Fix("list_tasks", new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<object>>(), null));
}
