using System.Text.Json;

namespace MjMcp.Server;

// What the tools return besides the task itself: the calls an agent may make next, the fix of a refusal and what
// either needs the agent to supply. Written to JSON by TaskView; planned from the rule table by FixPlanner.

/// <summary>A tool the agent may call next: fixed arguments plus the values still to choose.</summary>
/// <param name="Tool">The tool name.</param>
/// <param name="Arguments">Arguments already decided (the parent id).</param>
/// <param name="Choices">For each argument still to choose, the values that are accepted (numbers or strings).</param>
/// <param name="Needs">Arguments with no short list of values: their type and how to get one.</param>
/// <param name="Description">What the action does.</param>
public sealed record NextAction(string Tool, IReadOnlyDictionary<string, string> Arguments, IReadOnlyDictionary<string, IReadOnlyList<object>> Choices, IReadOnlyDictionary<string, Need> Needs, string Description);

/// <summary>How the server would fix a refused call: a call that runs as written once its <see cref="Needs"/> are filled.</summary>
/// <param name="Tool">The tool to call instead.</param>
/// <param name="Arguments">Its arguments.</param>
/// <param name="Choices">Values still to choose.</param>
/// <param name="Then">What to do after it, in words.</param>
public sealed record Fix(string Tool, IReadOnlyDictionary<string, string> Arguments, IReadOnlyDictionary<string, IReadOnlyList<object>> Choices, string? Then)
{
    /// <summary>More arguments, as JSON values (kept from the refused call); written into "arguments" too.</summary>
    public IReadOnlyDictionary<string, JsonElement> Values { get; init; } = new Dictionary<string, JsonElement>();

    /// <summary>Arguments with no short list of values: their type and how to get one.</summary>
    public IReadOnlyDictionary<string, Need> Needs { get; init; } = new Dictionary<string, Need>();

    /// <summary>The calls to make after this one, in order (each takes the task the call before it made).</summary>
    public IReadOnlyList<Fix> ThenCalls { get; init; } = [];
}

/// <summary>What the agent must supply for an argument that has no short list of values, and how to get it.</summary>
/// <param name="Type">task_id, string, integer, number, boolean, url, url_list or image_data.</param>
/// <param name="Description">What the argument is.</param>
/// <param name="How">Where the agent gets the value.</param>
public sealed record Need(string Type, string Description, string How)
{
    /// <summary>For a task_id: the stages a task must have.</summary>
    public IReadOnlyList<string> Stages { get; init; } = [];

    /// <summary>For a task_id: the operations that may have made the task (any when empty).</summary>
    public IReadOnlyList<string> MadeBy { get; init; } = [];

    /// <summary>For a task_id in a later call of a fix: the task_id the previous call returns.</summary>
    public bool FromPreviousCall { get; init; }
}
