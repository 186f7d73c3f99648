using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Rules;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>A sandbox of its own with small candidates, so the walk's submit counters are the walk's alone.</summary>
public sealed class WalkSandboxFixture : IAsyncLifetime
{
    public SandboxServer Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "walk-provider-key-7c21", DataDirectory = Paths.TempDir("walk-sandbox"), Timing = SandboxTiming.Instant, CandidateSize = 64 });

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

/// <summary>
/// An agent walks the server at random: valid calls (next_actions as listed) and invalid ones (wrong parents, missing
/// arguments, bad values, unknown and missing tasks). Every refusal must carry a fix that, run as written with its
/// needs filled from what earlier results returned, succeeds (then_calls too); every next_action listed is accepted;
/// a refused call sends nothing to the provider.
/// </summary>
public sealed class RandomWalkTests : IClassFixture<WalkSandboxFixture>
{
    private const int Steps = 60;
    private static readonly SpecRules Rules = MidjourneySpec.Rules;
    private readonly WalkSandboxFixture _fixture;

    public RandomWalkTests(WalkSandboxFixture fixture) => _fixture = fixture;

    [Theory]
    [InlineData(11)]
    [InlineData(29)]
    [InlineData(1234)]
    public async Task EveryFixAndNextActionRunsAsWritten(int seed)
    {
        // A webhook receiver wakes each waiting tool as soon as the sandbox finishes (no 2 s polls), which keeps the walk fast.
        var env = new Dictionary<string, string?> { ["MJMCP_WEBHOOK_PORT"] = Paths.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox, env: env);
        var walk = new Walk(server, new Random(seed), () => Rules.Operations.Sum(o => _fixture.Sandbox.Counters.Requests(o.Path)));

        // The agent starts with one grid, so there are image URLs to use.
        await walk.ValidAsync("imagine", new JsonObject { ["prompt"] = "walk start" }, "start");
        for (var step = 0; step < Steps; step++)
        {
            await walk.StepAsync(step);
        }

        Assert.True(walk.Failures.Count == 0, $"seed {seed}: {walk.Failures.Count} of {walk.Refusals} refusals or next_actions failed:\n" + string.Join("\n", walk.Failures));
        Assert.True(walk.Refusals >= 25, $"seed {seed}: only {walk.Refusals} refusals were exercised");
        Assert.True(walk.NextActionsRun >= 10, $"seed {seed}: only {walk.NextActionsRun} next_actions were run");
        Assert.True(walk.MultiStepFixes >= 3, $"seed {seed}: only {walk.MultiStepFixes} multi-step fixes were run");
        Assert.True(walk.FixesWithNeeds >= 3, $"seed {seed}: only {walk.FixesWithNeeds} fixes with needs were run");
    }


    [Fact]
    public async Task TheReportedDeadEndsGetFixesThatRun()
    {
        var env = new Dictionary<string, string?> { ["MJMCP_WEBHOOK_PORT"] = Paths.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture) };
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox, env: env);
        var grid = Id(await server.OkAsync("imagine", new JsonObject { ["prompt"] = "dead ends" }));
        var upscaled = Id(await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 3 }));
        var seedResult = Id(await server.OkAsync("seed", new JsonObject { ["task_id"] = grid }));
        var panGrid = Id(await server.OkAsync("pan", new JsonObject { ["parent_task_id"] = upscaled, ["direction"] = "up" }));
        var before = _fixture.Sandbox.Counters.AcceptedSubmissions;

        // inpaint without a mask: the fix says what to supply (type and how), not the same call again.
        var inpaint = await RefusedFixAsync(server, "inpaint", new JsonObject { ["parent_task_id"] = upscaled, ["prompt"] = "a red door" });
        Assert.Equal("inpaint", inpaint.GetProperty("tool").GetString());
        Assert.Equal(upscaled, inpaint.GetProperty("arguments").GetProperty("parent_task_id").GetString());
        Assert.Equal("a red door", inpaint.GetProperty("arguments").GetProperty("prompt").GetString());
        var mask = inpaint.GetProperty("needs").GetProperty("mask");
        Assert.Equal("image_data", mask.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(mask.GetProperty("how").GetString()));

        // upscale_alt on a seed result: upscale_1x on the grid behind it, then the call itself, with its values kept.
        var alt = await RefusedFixAsync(server, "upscale_alt", new JsonObject { ["parent_task_id"] = seedResult, ["type"] = "creative" });
        Assert.Equal("upscale_1x", alt.GetProperty("tool").GetString());
        Assert.Equal(grid, alt.GetProperty("arguments").GetProperty("parent_task_id").GetString());
        var then = Assert.Single(alt.GetProperty("then_calls").EnumerateArray());
        Assert.Equal("upscale_alt", then.GetProperty("tool").GetString());
        Assert.Equal("creative", then.GetProperty("arguments").GetProperty("type").GetString());
        Assert.Equal("previous_call", then.GetProperty("needs").GetProperty("parent_task_id").GetProperty("from").GetString());

        // pan on a grid made by pan: upscale_1x on this grid first, not the old upscaled ancestor.
        var pan = await RefusedFixAsync(server, "pan", new JsonObject { ["parent_task_id"] = panGrid, ["direction"] = "left" });
        Assert.Equal("upscale_1x", pan.GetProperty("tool").GetString());
        Assert.Equal(panGrid, pan.GetProperty("arguments").GetProperty("parent_task_id").GetString());
        Assert.Equal("left", Assert.Single(pan.GetProperty("then_calls").EnumerateArray()).GetProperty("arguments").GetProperty("direction").GetString());

        // variations(grid, index: "strong"): told that strong/subtle need an upscaled image, and how to get one.
        var strong = await server.CallAsync("variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = "strong" });
        var message = strong.StructuredContent!.Value.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains("is for an upscaled task: call upscale_1x(parent_task_id=\"" + grid + "\"", message, StringComparison.Ordinal);
        Assert.Contains("variations(", message[message.IndexOf("then", StringComparison.Ordinal)..], StringComparison.Ordinal);
        Assert.Equal(before, _fixture.Sandbox.Counters.AcceptedSubmissions);

        // The multi-step fix runs as written.
        var first = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = alt.GetProperty("choices").GetProperty("index")[0].GetInt32() });
        var hires = await server.OkAsync("upscale_alt", new JsonObject { ["parent_task_id"] = Id(first), ["type"] = "creative" });
        Assert.Equal("hires", hires.GetProperty("stage").GetString());
    }

    private static async Task<JsonElement> RefusedFixAsync(ServerProcess server, string tool, JsonObject args)
    {
        var result = await server.CallAsync(tool, args);
        Assert.True(result.IsError == true, $"{tool} was accepted: {ServerProcess.Text(result)}");
        return result.StructuredContent!.Value.GetProperty("error").GetProperty("fix").Clone();
    }

    private static string Id(JsonElement task) => task.GetProperty("task_id").GetString()!;

    [Fact]
    public void InstructionsAndPromptFollowTheRuleTable()
    {
        var instructions = WorkflowGuide.Instructions(Rules);
        var prompt = WorkflowGuide.Prompt(Rules);
        foreach (var operation in Rules.Operations)
        {
            Assert.Contains(operation.ToolName, prompt, StringComparison.Ordinal);
        }

        // Each stage line of the instructions names exactly the tools whose forms take that stage.
        foreach (var stage in Rules.Stages)
        {
            var line = instructions.Split(" On ").Single(s => s.StartsWith(Wording.A(stage.Name) + ":", StringComparison.Ordinal));
            var named = line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..line.IndexOf('.', StringComparison.Ordinal)].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet();
            var expected = Rules.Operations.Where(o => o.FormsForStage(stage.Name).Any()).Select(o => o.ToolName).ToHashSet();
            Assert.Equal(expected.Count == 0 ? ["nothing"] : expected, named);
        }

        // A rule that names the making operations shows in the prompt (reroll takes only grids from imagine or reroll).
        foreach (var operation in Rules.Operations)
        {
            foreach (var form in operation.Forms.Where(f => f.Parent is { Operations.Count: > 0 }))
            {
                Assert.Contains($"{operation.ToolName}(", prompt, StringComparison.Ordinal);
                Assert.Contains("made by " + string.Join(" or ", form.Parent!.Operations.Select(n => Rules.FindOperation(n)!.ToolName)), prompt, StringComparison.Ordinal);
            }
        }

        Assert.Contains("next_actions", prompt, StringComparison.Ordinal);
        Assert.Contains("needs", prompt, StringComparison.Ordinal);
    }

    /// <summary>The agent: what it has seen, and its moves.</summary>
    private sealed class Walk(ServerProcess server, Random random, Func<int> submitRequests)
    {
        private readonly List<Known> _tasks = [];
        private readonly List<string> _urls = [];
        private readonly List<(string TaskId, JsonElement Action)> _actions = [];

        public List<string> Failures { get; } = [];

        public int Refusals { get; private set; }

        public int NextActionsRun { get; private set; }

        public int MultiStepFixes { get; private set; }

        public int FixesWithNeeds { get; private set; }

        public async Task StepAsync(int step)
        {
            var move = random.Next(12);
            if (move < 3 && _actions.Count > 0)
            {
                var (taskId, action) = _actions[random.Next(_actions.Count)];
                var args = Fill(action, null);
                NextActionsRun++;
                await ValidAsync(action.GetProperty("tool").GetString()!, args, $"step {step}: next_action of {taskId}");
                return;
            }

            var (tool, badArgs) = Invalid(move);
            await TryAsync(tool, badArgs, $"step {step}");
        }

        /// <summary>A call that must succeed; records what it returns.</summary>
        public async Task<string?> ValidAsync(string tool, JsonObject args, string what)
        {
            var result = await server.CallAsync(tool, args);
            if (result.IsError == true)
            {
                Failures.Add($"{what}: {tool} {Show(args)} was refused: {ServerProcess.Text(result)}");
                return null;
            }

            return Record(tool, result.StructuredContent!.Value);
        }

        /// <summary>A call that may be refused: a refusal must send nothing and carry a fix that works.</summary>
        private async Task TryAsync(string tool, JsonObject args, string what)
        {
            var before = submitRequests();
            var result = await server.CallAsync(tool, args);
            if (result.IsError != true)
            {
                Record(tool, result.StructuredContent!.Value);
                return;
            }

            Refusals++;
            var text = ServerProcess.Text(result);
            if (submitRequests() != before)
            {
                Failures.Add($"{what}: refused {tool} {Show(args)} sent {submitRequests() - before} submit(s) to the provider");
            }

            var error = result.StructuredContent!.Value.GetProperty("error");
            if (!error.TryGetProperty("fix", out var fix) || fix.ValueKind != JsonValueKind.Object)
            {
                Failures.Add($"{what}: {tool} {Show(args)} was refused without a fix: {text}");
                return;
            }

            var calls = new List<JsonElement> { fix };
            if (fix.TryGetProperty("then_calls", out var then))
            {
                calls.AddRange(then.EnumerateArray());
                MultiStepFixes += calls.Count > 1 ? 1 : 0;
            }

            FixesWithNeeds += calls.Any(c => c.GetProperty("needs").EnumerateObject().Any(n => !n.Value.TryGetProperty("from", out _))) ? 1 : 0;
            string? previous = null;
            foreach (var call in calls)
            {
                var callTool = call.GetProperty("tool").GetString()!;
                var callArgs = Fill(call, previous);
                previous = await ValidAsync(callTool, callArgs, $"{what}: fix of {tool} {Show(args)} ({text})");
                if (previous is null)
                {
                    return;
                }
            }
        }

        /// <summary>Arguments for a call as written: its arguments, one of each choice, each need filled from what the agent has seen.</summary>
        private JsonObject Fill(JsonElement call, string? previous)
        {
            var args = new JsonObject();
            foreach (var argument in call.GetProperty("arguments").EnumerateObject())
            {
                args[argument.Name] = JsonNode.Parse(argument.Value.GetRawText());
            }

            foreach (var choice in call.GetProperty("choices").EnumerateObject())
            {
                args[choice.Name] = JsonNode.Parse(choice.Value[random.Next(choice.Value.GetArrayLength())].GetRawText());
            }

            foreach (var need in call.GetProperty("needs").EnumerateObject())
            {
                args[need.Name] = need.Value.GetProperty("type").GetString() switch
                {
                    "task_id" when need.Value.TryGetProperty("from", out _) => previous,
                    "task_id" => PickTask(need.Value),
                    "image_data" => TestImages.MaskBase64(),
                    "url" => PickUrl(),
                    "url_list" => new JsonArray(PickUrl(), PickUrl()),
                    "integer" or "number" => 1,
                    _ => "a walk prompt",
                };
            }

            return args;
        }

        private string? PickTask(JsonElement need)
        {
            var stages = need.GetProperty("stages").EnumerateArray().Select(s => s.GetString()).ToHashSet();
            var makers = need.TryGetProperty("made_by", out var m) ? m.EnumerateArray().Select(s => s.GetString()).ToHashSet() : [];
            var candidates = _tasks.Where(t => stages.Contains(t.Stage) && (makers.Count == 0 || makers.Contains(t.Tool))).ToList();
            return candidates.Count == 0 ? null : candidates[random.Next(candidates.Count)].TaskId;
        }

        private string PickUrl() => _urls[random.Next(_urls.Count)];

        /// <summary>An invalid (or maybe invalid) call, from the rule table.</summary>
        private (string Tool, JsonObject Args) Invalid(int move)
        {
            var withParent = Rules.Operations.Where(o => o.NeedsParent).ToList();
            var operation = withParent[random.Next(withParent.Count)];
            var form = operation.Forms.First(f => f.Parent is not null);
            var field = form.Parent!.Field;
            switch (move)
            {
                case < 6:
                    {
                        // A wrong (or any) parent: a known task of any stage or result kind.
                        var task = _tasks[random.Next(_tasks.Count)];
                        var matching = task.Stage is null ? null : operation.FormsForStage(task.Stage).FirstOrDefault();
                        var args = ValidArguments(matching ?? form);
                        args[field] = task.TaskId;
                        return (operation.ToolName, args);
                    }

                case 6:
                    {
                        // A required argument left out, on a parent of the right stage when there is one.
                        var args = ValidArguments(form);
                        args[field] = _tasks.FirstOrDefault(t => t.Stage is { } s && FixPlanner.Accepts(form, s, Rules.Operations.First(o => o.ToolName == t.Tool).Name))?.TaskId ?? "no-such-task";
                        var required = form.Params.Where(p => p.Required).Select(p => p.Wire).ToList();
                        if (required.Count > 0)
                        {
                            args.Remove(required[random.Next(required.Count)]);
                        }

                        return (operation.ToolName, args);
                    }

                case 7:
                    {
                        // A bad index on a grid or an upscaled image (0, 5, "two", or strong where 1-4 belongs).
                        var tool = random.Next(3) switch { 0 => "upscale_1x", 1 => "variations", _ => "upscale_highres" };
                        var target = Rules.Operations.First(o => o.ToolName == tool);
                        var task = _tasks.Where(t => t.Stage is "grid" or "upscaled").ToList();
                        var parent = task.Count == 0 ? _tasks[0] : task[random.Next(task.Count)];
                        var args = ValidArguments(target.FormsForStage(parent.Stage ?? "grid").FirstOrDefault() ?? target.Forms[0]);
                        args["parent_task_id"] = parent.TaskId;
                        args["index"] = random.Next(5) switch { 0 => 0, 1 => 5, 2 => "two", 3 => "strong", _ => 2 };
                        return (tool, args);
                    }

                case 8:
                    {
                        var args = ValidArguments(form);
                        args[field] = "no-such-task-" + random.Next(1000);
                        return (operation.ToolName, args);
                    }

                case 9:
                    return (operation.ToolName, ValidArguments(form));

                case 10:
                    {
                        // Bad values of a call without a parent.
                        return random.Next(4) switch
                        {
                            0 => ("imagine", new JsonObject { ["prompt"] = "" }),
                            1 => ("describe", new JsonObject { ["image_url"] = "file:///etc/passwd" }),
                            2 => ("blend", new JsonObject { ["image_urls"] = new JsonArray(PickUrl()) }),
                            _ => ("faceswap", new JsonObject { ["target_image_url"] = PickUrl() }),
                        };
                    }

                default:
                    {
                        // A bad value of a refining call on the right parent (pan sideways, zoom 3, a mask that is no PNG).
                        var upscaled = _tasks.Where(t => t.Stage == "upscaled").Select(t => t.TaskId).DefaultIfEmpty(_tasks[0].TaskId).ToList();
                        var parent = upscaled[random.Next(upscaled.Count)];
                        return random.Next(3) switch
                        {
                            0 => ("pan", new JsonObject { ["parent_task_id"] = parent, ["direction"] = "sideways", ["prompt"] = "keep this prompt" }),
                            1 => ("outpaint", new JsonObject { ["parent_task_id"] = parent, ["zoom_ratio"] = 3 }),
                            _ => ("inpaint", new JsonObject { ["parent_task_id"] = parent, ["mask"] = "not an image" }),
                        };
                    }
            }
        }

        /// <summary>Valid values for a form's required parameters (not its parent).</summary>
        private JsonObject ValidArguments(FormRule form)
        {
            var args = new JsonObject();
            foreach (var param in form.Params.Where(p => p.Required))
            {
                args[param.Wire] = param.Kind switch
                {
                    ParamKind.Enum => param.Values[random.Next(param.Values.Count)],
                    ParamKind.Int => random.Next((int)(param.Min ?? 1), (int)(param.Max ?? 1) + 1),
                    ParamKind.Number => param.Max ?? param.Min ?? 1,
                    ParamKind.ImageData => TestImages.MaskBase64(),
                    ParamKind.UrlList => new JsonArray(PickUrl(), PickUrl()),
                    ParamKind.Url => PickUrl(),
                    _ => "a walk prompt",
                };
            }

            return args;
        }

        /// <summary>Keeps a result: the task, its image URLs and its next actions.</summary>
        private string? Record(string tool, JsonElement result)
        {
            if (!result.TryGetProperty("task_id", out var id) || !result.TryGetProperty("state", out var state) || state.GetString() != "finished")
            {
                return result.TryGetProperty("task_id", out id) ? id.GetString() : null;
            }

            var taskId = id.GetString()!;
            var stage = result.TryGetProperty("stage", out var s) ? s.GetString() : null;
            var operation = Rules.FindOperation(result.GetProperty("operation").GetString()!);
            _tasks.Add(new Known(taskId, stage, operation?.ToolName ?? tool));
            if (result.TryGetProperty("images", out var images))
            {
                _urls.AddRange(images.EnumerateArray().Select(i => i.GetProperty("url").GetString()!));
            }

            foreach (var action in result.GetProperty("next_actions").EnumerateArray())
            {
                _actions.Add((taskId, action.Clone()));
            }

            return taskId;
        }

        private static string Show(JsonObject args)
        {
            var json = args.ToJsonString();
            return json.Length <= 200 ? json : json[..197] + "...";
        }
    }

    private sealed record Known(string TaskId, string? Stage, string Tool);
}
