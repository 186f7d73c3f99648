using System.Globalization;
using System.Text;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The server instructions and the workflow prompt, written from the stage-rule table (<see cref="SpecRules"/>), so they
/// say what the rules say and change with the spec. Only how the server behaves (next_actions, fixes, waiting) is prose.
/// </summary>
public static class WorkflowGuide
{
    private const string Behaviour =
        "Every tool waits for its result (with progress) and returns next_actions: the tools, fixed arguments, allowed values (choices) " +
        "and the values you must supply (needs: their type and how to get one) that are valid next. " +
        "A refused call costs nothing; its error.fix is a call that runs as written once its needs are filled, and its then_calls follow in order, " +
        "each taking the task_id the call before it returned. If a job takes longer, the tool returns its task_id: call wait_task.";

    /// <summary>The short instructions the server sends in the MCP handshake.</summary>
    public static string Instructions(SpecRules rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var text = new StringBuilder("Midjourney workflow tools. Start with ");
        text.Append(string.Join(" or ", Starters(rules).Select(o => $"{o.ToolName} ({Wording.A(o.Produces)})"))).Append('.');
        foreach (var stage in rules.Stages)
        {
            var takers = Takers(rules, stage.Name).ToList();
            text.Append(CultureInfo.InvariantCulture, $" On {Wording.A(stage.Name)}: {(takers.Count == 0 ? "nothing" : string.Join(", ", takers.Select(t => t.ToolName)))}.");
        }

        text.Append(" Each result lists next_actions; follow them. A refusal's error.fix runs as written once its needs are filled. Long jobs return a task_id: call wait_task. The prompt 'midjourney_workflow' explains more.");
        return text.ToString();
    }

    /// <summary>The text of the <c>midjourney_workflow</c> prompt.</summary>
    public static string Prompt(SpecRules rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var text = new StringBuilder("You drive Midjourney through the MjMcp tools. Finished tasks have a stage (they carry images) or a result kind (they carry data); each tool takes a parent task of certain stages and makes a new one.\n");
        text.Append("Starting points (no parent task):\n");
        foreach (var operation in rules.Operations.Where(o => o.Forms.Any(f => f.Parent is null)))
        {
            var form = operation.Forms.First(f => f.Parent is null);
            var required = form.Params.Where(p => p.Required).Select(p => p.Wire).ToList();
            text.Append(CultureInfo.InvariantCulture, $"- {operation.ToolName}({string.Join(", ", required)}) makes {Made(operation)}. {operation.Summary}\n");
        }

        foreach (var stage in rules.Stages)
        {
            text.Append(CultureInfo.InvariantCulture, $"{stage.Name.ToUpperInvariant()} ({stage.Images} image{(stage.Images == 1 ? string.Empty : "s")}): {stage.Summary}\n");
            var makers = rules.Operations.Where(o => o.ProducesStage && o.Produces == stage.Name).Select(o => o.ToolName).ToList();
            text.Append(CultureInfo.InvariantCulture, $"  made by {string.Join(", ", makers)}.\n");
            var takers = false;
            foreach (var operation in rules.Operations)
            {
                foreach (var form in operation.FormsForStage(stage.Name))
                {
                    takers = true;
                    var values = form.Params.Where(p => p.Required).Select(p => $"{p.Wire}: {Values(p)}");
                    var by = form.Parent!.Operations.Count > 0 ? $" (only {Wording.A(stage.Name)} made by {string.Join(" or ", form.Parent.Operations.Select(n => rules.FindOperation(n)?.ToolName ?? n))})" : string.Empty;
                    text.Append(CultureInfo.InvariantCulture, $"  - {operation.ToolName}({string.Join("; ", new[] { form.Parent.Field + ": its task_id" }.Concat(values))}) makes {Made(operation)}{by}. {form.Summary}\n");
                }
            }

            if (!takers)
            {
                text.Append("  Nothing takes it further.\n");
            }
        }

        foreach (var result in rules.Results)
        {
            var makers = rules.Operations.Where(o => !o.ProducesStage && o.Produces == result.Name).Select(o => o.ToolName);
            text.Append(CultureInfo.InvariantCulture, $"{result.Name.ToUpperInvariant()} (data: {string.Join(", ", result.Fields.Select(f => f.Name))}): {result.Summary} Made by {string.Join(", ", makers)}; no tool takes it as a parent.\n");
        }

        var indexes = rules.Operations.SelectMany(o => o.Forms).SelectMany(f => f.Params).Where(p => p.Kind == ParamKind.Int && p.Min == 1).Select(p => p.Wire).Distinct().ToList();
        if (indexes.Count > 0)
        {
            text.Append(CultureInfo.InvariantCulture, $"Indexes ({string.Join(", ", indexes)}) are 1-based: 1 is the first image.\n");
        }

        text.Append(Behaviour);
        return text.ToString();
    }

    private static IEnumerable<OperationRule> Starters(SpecRules rules) =>
        rules.Operations.Where(o => o.ProducesStage && o.Forms.All(f => f.Parent is null));

    private static IEnumerable<OperationRule> Takers(SpecRules rules, string stage) =>
        rules.Operations.Where(o => o.FormsForStage(stage).Any());

    private static string Made(OperationRule operation) =>
        operation.ProducesStage ? Wording.A(operation.Produces) : $"{Wording.A(operation.Produces)} result";

    private static string Values(ParamRule param) =>
        FixPlanner.Choices(param) is { } choices
            ? string.Join("|", choices.Select(c => Convert.ToString(c, CultureInfo.InvariantCulture)))
            : param.Summary.TrimEnd('.');
}
