using System.Globalization;
using System.Text.Json;
using ModelContextProtocol.Protocol;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The spending guard: an optional credit budget per server process (<see cref="ProcessSetting"/>) and per UTC day
/// (<see cref="DailySetting"/>, shared by every server on one journal and kept across restarts). Every submit reserves its
/// cost in the journal before its request, atomically, so concurrent calls cannot overspend; a call that would exceed a
/// budget is refused before anything is sent, with the budget left and the call's cost. A submit the provider refused
/// releases its reservation (the journal closes its intent as not sent); an uncertain one keeps it.
/// </summary>
public sealed class CreditBudget
{
    /// <summary>The setting of the per-process budget.</summary>
    public const string ProcessSetting = "MJMCP_BUDGET_CREDITS";

    /// <summary>The setting of the per-UTC-day budget.</summary>
    public const string DailySetting = "MJMCP_DAILY_BUDGET_CREDITS";

    private readonly ITaskJournal _journal;

    /// <summary>Creates the guard; a null budget is no limit (spend is still recorded, and <c>account</c> shows it).</summary>
    public CreditBudget(ITaskJournal journal, int? processBudget, int? dailyBudget)
    {
        ArgumentNullException.ThrowIfNull(journal);
        if (processBudget < 0 || dailyBudget < 0)
        {
            throw new ArgumentOutOfRangeException(processBudget < 0 ? nameof(processBudget) : nameof(dailyBudget), $"A credit budget is 0 or more ({ProcessSetting}, {DailySetting}); leave it unset for no limit.");
        }

        _journal = journal;
        ProcessBudget = processBudget;
        DailyBudget = dailyBudget;
    }

    /// <summary>The budget of this server process, or null for none.</summary>
    public int? ProcessBudget { get; }

    /// <summary>The budget of each UTC day, or null for none.</summary>
    public int? DailyBudget { get; }

    /// <summary>Identifies this process's reservations in the journal.</summary>
    public string ProcessId { get; } = "p" + Guid.NewGuid().ToString("N")[..16];

    /// <summary>
    /// Reserves the credits of a call (its cost from the rule table, per value where the spec says so) under its
    /// write-ahead intent. Null when it fits the budgets; otherwise the refusal (the intent is then closed as not sent).
    /// </summary>
    public CallToolResult? Reserve(string intentId, OperationRule operation, JsonElement body)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var cost = operation.CreditsOf(body);
        SpendDecision decision;
        try
        {
            decision = _journal.ReserveSpend(intentId, ProcessId, operation.Name, cost, ProcessBudget, DailyBudget);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            if (ProcessBudget is null && DailyBudget is null)
            {
                return null; // no budget to keep: an unrecorded spend only leaves account's totals short
            }

            try
            {
                _journal.MarkIntentNotSent(intentId, "the credit budget could not be checked");
            }
            catch (Exception inner) when (inner is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
            {
                // The intent stays "sending" and later reads as uncertain; nothing was sent either way.
            }

            return ToolRuntime.Refuse("journal_unavailable", $"The task journal ({_journal.Location}) cannot record spend ({ex.Message}), so the credit budget cannot be checked and {operation.ToolName} was not sent: nothing was spent. Fix the journal, then call again.", null);
        }

        return decision.ExceededBudget is { } which ? Refusal(operation, body, cost, which, decision) : null;
    }

    private CallToolResult Refusal(OperationRule operation, JsonElement body, int cost, SpendBudget which, SpendDecision decision)
    {
        var perDay = which == SpendBudget.Day;
        var budget = perDay ? DailyBudget!.Value : ProcessBudget!.Value;
        var spent = perDay ? decision.DaySpent : decision.ProcessSpent;
        var remaining = Math.Max(0, budget - spent);
        var setting = perDay ? DailySetting : ProcessSetting;
        var resetsAt = DateOnly.ParseExact(decision.Day, "yyyy-MM-dd", CultureInfo.InvariantCulture).AddDays(1).ToDateTime(TimeOnly.MinValue, DateTimeKind.Utc);
        var value = operation.CreditsBy is { } by && body.ValueKind == JsonValueKind.Object && body.TryGetProperty(by.Wire, out var v) && v.ValueKind == JsonValueKind.String
            ? $" ({by.Param} {v.GetString()})"
            : string.Empty;
        var message = perDay
            ? $"{operation.ToolName}{value} costs {Credits(cost)}, but only {Credits(remaining)} of today's budget of {Credits(budget)} {(remaining == 1 ? "is" : "are")} left ({spent} spent this UTC day by the servers on this journal; {setting}). Nothing was sent."
            : $"{operation.ToolName}{value} costs {Credits(cost)}, but only {Credits(remaining)} of this server's budget of {Credits(budget)} {(remaining == 1 ? "is" : "are")} left ({spent} spent since it started; {setting}). Nothing was sent.";
        var then = perDay
            ? $"wait for the next UTC day ({resetsAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)}), or raise {setting} (now {budget}) and restart the server"
            : $"raise {setting} (now {budget}) and restart the server";
        if (remaining > 0)
        {
            then += ", or make a call that costs at most " + Credits(remaining);
        }

        var refusal = new BudgetRefusalJson(new BudgetErrorJson
        {
            Code = RefusalCodes.BudgetExceeded,
            Message = message,
            Budget = perDay ? "day" : "process",
            Cost = cost,
            Remaining = remaining,
            BudgetCredits = budget,
            Spent = spent,
            Setting = setting,
            ResetsAt = perDay ? resetsAt.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) : null,
            Fix = new FixJson { Tool = "account", Arguments = new Dictionary<string, JsonElement>(), Choices = new Dictionary<string, IReadOnlyList<JsonElement>>(), Needs = new Dictionary<string, NeedJson>(), Then = then },
        });
        var structured = JsonSerializer.SerializeToElement(refusal, ToolJsonContext.Default.BudgetRefusalJson);
        return new CallToolResult
        {
            IsError = true,
            Content = [new TextContentBlock { Text = $"{message} Fix: {then}; account shows what is spent and left." }],
            StructuredContent = structured,
        };
    }

    /// <summary>The spend for <c>account</c>: "process" and "day" (spent, and budget and remaining when set; the day is the journal's clock's UTC day), or null when the journal cannot be read.</summary>
    internal IReadOnlyDictionary<string, SpendJson>? Status()
    {
        if (Spent() is not { } spent)
        {
            return null;
        }

        return new Dictionary<string, SpendJson>(StringComparer.Ordinal)
        {
            ["process"] = Part(spent.ProcessSpent, ProcessBudget, null),
            ["day"] = Part(spent.DaySpent, DailyBudget, spent.Day),
        };

        static SpendJson Part(long used, int? budget, string? day) => new()
        {
            Date = day,
            Spent = used,
            Budget = budget,
            Remaining = budget is { } b ? Math.Max(0, b - used) : null,
        };
    }

    /// <summary>The spend in words for <c>account</c>: "Spent by this server: 6 credits of 10 (4 left); today (UTC): 6 credits, no daily budget."</summary>
    public string StatusText()
    {
        if (Spent() is not { } spent)
        {
            return "Spent: unknown (the journal cannot be read).";
        }

        return $"Spent by this server: {Part(spent.ProcessSpent, ProcessBudget, "no budget")}; today (UTC, all servers on this journal): {Part(spent.DaySpent, DailyBudget, "no daily budget")}.";

        static string Part(long used, int? budget, string none) =>
            budget is { } b ? $"{Credits(used)} of {b} ({Math.Max(0, b - used)} left)" : $"{Credits(used)}, {none}";
    }

    private (long ProcessSpent, long DaySpent, string Day)? Spent()
    {
        try
        {
            return _journal.Spent(ProcessId);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string Credits(long credits) => credits.ToString(CultureInfo.InvariantCulture) + (credits == 1 ? " credit" : " credits");
}
