using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Protocol;
using MjMcp.Rules;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Credits as the provider charges them, and the spending guard (MJMCP_BUDGET_CREDITS per server process,
/// MJMCP_DAILY_BUDGET_CREDITS per UTC day in the journal): a call that would exceed a budget is refused before any
/// request; a provider refusal gives its credits back, an uncertain submit keeps them; account shows spent and left.
/// (Not the concurrency cap MJMCP_MAX_CONCURRENT_SUBMITS: that is SpendCapTests.)
/// </summary>
public sealed class BudgetTests
{
    private static Task<SandboxServer> SandboxAsync(string key, SandboxFaults? faults = null) =>
        SandboxServer.StartAsync(new SandboxOptions { ApiKey = key, CandidateSize = 64, Timing = SandboxTiming.Instant, Faults = faults ?? new SandboxFaults() });

    private static string Id(JsonElement task) => task.GetProperty("task_id").GetString()!;

    /// <summary>The sandbox account's credits, read from its GET /account like the provider's.</summary>
    private static async Task<long> CreditsAsync(SandboxServer sandbox)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(sandbox.BaseUrl, "account"));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", sandbox.Options.ApiKey);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("credits").GetInt64();
    }

    private static JsonElement OverBudget(CallToolResult result, string budget, int cost, int remaining)
    {
        Assert.True(result.IsError == true, ServerProcess.Text(result));
        var error = result.StructuredContent!.Value.GetProperty("error");
        Assert.Equal("budget_exceeded", error.GetProperty("code").GetString());
        Assert.Equal(budget, error.GetProperty("budget").GetString());
        Assert.Equal(cost, error.GetProperty("cost").GetInt32());
        Assert.Equal(remaining, error.GetProperty("remaining").GetInt32());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains($"costs {cost} credit", message, StringComparison.Ordinal);
        Assert.Contains("Nothing was sent", message, StringComparison.Ordinal);
        Assert.Contains(budget == "day" ? "MJMCP_DAILY_BUDGET_CREDITS" : "MJMCP_BUDGET_CREDITS", ServerProcess.Text(result), StringComparison.Ordinal);
        return error;
    }

    private static JsonElement Budget(JsonElement account, string part) => account.GetProperty("budget").GetProperty(part);

    [Fact]
    public void CreditsOfReadsTheValueOrItsDefaultAndNeverCountsAnUnknownValueAsCheaper()
    {
        var speed = new ParamRule("speed", "mode", ParamKind.Enum, Required: false, Secret: false, "How fast.", Default: "fast", ["fast", "turbo"], null, null, null, null, null, null, null, false);
        var operation = new OperationRule("render", "render", "RenderAsync", "/render", ["render"], Credits: 4, "Render.", "grid", true,
            [new FormRule(string.Empty, "Render.", null, [speed])],
            new CreditRule("speed", "mode", [new CreditValue("fast", 2), new CreditValue("turbo", 4)]));
        Assert.Equal(4, operation.CreditsOf(JsonSerializer.SerializeToElement(new { mode = "turbo" })));
        Assert.Equal(2, operation.CreditsOf(JsonSerializer.SerializeToElement(new { mode = "fast" })));
        Assert.Equal(2, operation.CreditsOf(JsonSerializer.SerializeToElement(new { prompt = "no mode: the default" })));
        Assert.Equal(4, operation.CreditsOf(JsonSerializer.SerializeToElement(new { mode = "relax" })));
        Assert.Equal("2 credits with speed fast, 4 credits with speed turbo", operation.CreditsText());
        Assert.Equal(4, (operation with { CreditsBy = null }).CreditsOf(JsonSerializer.SerializeToElement(new { mode = "fast" })));
    }

    [Theory]
    [InlineData("BudgetCredits")]
    [InlineData("DailyBudgetCredits")]
    public void ANegativeBudgetIsAnErrorThatNamesTheSetting(string key)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["MjMcp:" + key] = "-5" }).Build();
        var options = MjMcpServerOptions.Load(configuration);
        var ex = Assert.Throws<OptionsValidationException>(options.Validate);
        Assert.Contains("-5 is out of range", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MjMcp:" + key, ex.Message, StringComparison.Ordinal);
        Assert.Contains("leave it unset for no limit", ex.Message, StringComparison.Ordinal);
        var fine = MjMcpServerOptions.Load(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["MjMcp:" + key] = "0" }).Build());
        Assert.Equal(0, key == "BudgetCredits" ? fine.BudgetCredits : fine.DailyBudgetCredits);
    }

    [Fact]
    public async Task TheProcessBudgetRefusesBeforeAnyRequestAndAProviderRefusalGivesCreditsBack()
    {
        await using var sandbox = await SandboxAsync("budget-process-key");
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_BUDGET_CREDITS"] = "9" });
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a budget lighthouse" });

        // The provider refuses this describe (its URL is no image): nothing was created, so its 2 credits are released.
        var refused = await server.CallAsync("describe", new JsonObject { ["image_url"] = new Uri(sandbox.BaseUrl, "images/no-such-image.png").ToString() });
        Assert.True(refused.IsError == true, ServerProcess.Text(refused));
        Assert.NotEqual("budget_exceeded", refused.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());

        await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a second lighthouse" }); // 8 of 9 spent
        var imagines = sandbox.Counters.Requests("/imagine");
        var accepted = sandbox.Counters.AcceptedSubmissions;
        var error = OverBudget(await server.CallAsync("imagine", new JsonObject { ["prompt"] = "one too many" }), "process", cost: 4, remaining: 1);
        Assert.Equal(9, error.GetProperty("budget_credits").GetInt32());
        Assert.Equal(8, error.GetProperty("spent").GetInt32());
        Assert.Equal(imagines, sandbox.Counters.Requests("/imagine"));
        Assert.Equal(accepted, sandbox.Counters.AcceptedSubmissions);

        // upscale_highres 4x costs 2 (over), 2x costs 1 (the last credit).
        OverBudget(await server.CallAsync("upscale_highres", new JsonObject { ["parent_task_id"] = Id(grid), ["index"] = 1, ["type"] = "4x" }), "process", cost: 2, remaining: 1);
        await server.OkAsync("upscale_highres", new JsonObject { ["parent_task_id"] = Id(grid), ["index"] = 1, ["type"] = "2x" });
        OverBudget(await server.CallAsync("upscale_highres", new JsonObject { ["parent_task_id"] = Id(grid), ["index"] = 2, ["type"] = "2x" }), "process", cost: 1, remaining: 0);
        Assert.Equal(accepted + 1, sandbox.Counters.AcceptedSubmissions);

        var account = await server.CallAsync("account", new JsonObject());
        Assert.False(account.IsError == true, ServerProcess.Text(account));
        var process = Budget(account.StructuredContent!.Value, "process");
        Assert.Equal((9, 9, 0), (process.GetProperty("spent").GetInt32(), process.GetProperty("budget").GetInt32(), process.GetProperty("remaining").GetInt32()));
        Assert.False(Budget(account.StructuredContent!.Value, "day").TryGetProperty("budget", out _));
        Assert.Contains("Spent by this server: 9 credits of 9 (0 left)", ServerProcess.Text(account), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUncertainSubmitKeepsItsCredits()
    {
        // Every submit answers 500: the provider may have made the task, so its credits stay spent.
        await using var sandbox = await SandboxAsync("budget-uncertain-key", new SandboxFaults { Submit = new FaultRates { ServerError = 1 } });
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_BUDGET_CREDITS"] = "4" });
        var uncertain = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "maybe made" });
        Assert.Equal("submit_uncertain", uncertain.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());
        var requests = sandbox.Counters.TotalRequests;
        OverBudget(await server.CallAsync("shorten", new JsonObject { ["prompt"] = "a very long prompt" }), "process", cost: 2, remaining: 0);
        Assert.Equal(requests, sandbox.Counters.TotalRequests);
    }

    [Fact]
    public async Task TheDayBudgetSurvivesARestart()
    {
        await using var sandbox = await SandboxAsync("budget-day-key");
        var dataDir = Paths.TempDir("budget-day");
        var env = new Dictionary<string, string?> { ["MJMCP_DAILY_BUDGET_CREDITS"] = "6" };
        string gridId;
        await using (var first = await ServerProcess.StartAsync(sandbox, dataDir, env: env))
        {
            gridId = Id(await first.OkAsync("imagine", new JsonObject { ["prompt"] = "before the restart" }));
        }

        await using var second = await ServerProcess.StartAsync(sandbox, dataDir, env: env);
        var account = (await second.OkAsync("account", new JsonObject()));
        Assert.Equal(0, Budget(account, "process").GetProperty("spent").GetInt32());
        Assert.Equal((4, 2), (Budget(account, "day").GetProperty("spent").GetInt32(), Budget(account, "day").GetProperty("remaining").GetInt32()));

        var accepted = sandbox.Counters.AcceptedSubmissions;
        var error = OverBudget(await second.CallAsync("imagine", new JsonObject { ["prompt"] = "after the restart" }), "day", cost: 4, remaining: 2);
        Assert.Contains("next UTC day", error.GetProperty("fix").GetProperty("then").GetString(), StringComparison.Ordinal);
        Assert.EndsWith("T00:00:00Z", error.GetProperty("resets_at").GetString(), StringComparison.Ordinal);
        Assert.Equal(accepted, sandbox.Counters.AcceptedSubmissions);

        await second.OkAsync("upscale_highres", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 4, ["type"] = "4x" });
        OverBudget(await second.CallAsync("upscale_highres", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 3, ["type"] = "2x" }), "day", cost: 1, remaining: 0);
        Assert.Equal(accepted + 1, sandbox.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task ConcurrentCallsOfTwoServersOnOneJournalCannotOverspend()
    {
        await using var sandbox = await SandboxAsync("budget-race-key");
        var dataDir = Paths.TempDir("budget-race");
        var env = new Dictionary<string, string?> { ["MJMCP_DAILY_BUDGET_CREDITS"] = "8" };
        await using var one = await ServerProcess.StartAsync(sandbox, dataDir, env: env);
        await using var two = await ServerProcess.StartAsync(sandbox, dataDir, env: env);

        // Six imagine calls of 4 credits race for a budget of 8: exactly two get through.
        var calls = Enumerable.Range(0, 6).Select(i => (i % 2 == 0 ? one : two).CallAsync("imagine", new JsonObject { ["prompt"] = "race " + i })).ToList();
        var results = await Task.WhenAll(calls);
        var codes = results.Select(r => r.IsError == true ? r.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString() : "ok").ToList();
        Assert.Equal(2, codes.Count(c => c == "ok"));
        Assert.Equal(4, codes.Count(c => c == "budget_exceeded"));
        Assert.Equal(2, sandbox.Counters.AcceptedSubmissions);
        Assert.Equal(2, sandbox.Counters.Requests("/imagine"));
    }

    [Fact]
    public async Task EveryOperationCostsWhatTheRuleTableSays()
    {
        await using var sandbox = await SandboxAsync("budget-walk-key");
        await using var server = await ServerProcess.StartAsync(sandbox);
        var grid = Id(await server.OkAsync("imagine", new JsonObject { ["prompt"] = "the walk's grid" }));
        var images = (await server.OkAsync("fetch_task", new JsonObject { ["task_id"] = grid })).GetProperty("images");
        string Url(int i) => images[i].GetProperty("url").GetString()!;
        var upscaled = Id(await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = 1 }));

        // One call per operation (per credited value where the price depends on one); a new operation fails here until it gets a case.
        var cases = new Dictionary<string, Func<string?, JsonObject>>
        {
            ["imagine"] = _ => new() { ["prompt"] = "priced" },
            ["blend"] = _ => new() { ["image_urls"] = new JsonArray(Url(0), Url(1)) },
            ["reroll"] = _ => new() { ["parent_task_id"] = grid },
            ["variations"] = _ => new() { ["parent_task_id"] = grid, ["index"] = 2 },
            ["upscale-1x"] = _ => new() { ["parent_task_id"] = grid, ["index"] = 3 },
            ["upscale-alt"] = _ => new() { ["parent_task_id"] = upscaled, ["type"] = "subtle" },
            ["upscale-highres"] = value => new() { ["parent_task_id"] = upscaled, ["type"] = value },
            ["outpaint"] = _ => new() { ["parent_task_id"] = upscaled, ["zoom_ratio"] = 1.5 },
            ["inpaint"] = _ => new() { ["parent_task_id"] = upscaled, ["mask"] = TestImages.MaskBase64() },
            ["pan"] = _ => new() { ["parent_task_id"] = upscaled, ["direction"] = "left" },
            ["seed"] = _ => new() { ["task_id"] = grid },
            ["describe"] = _ => new() { ["image_url"] = Url(2) },
            ["faceswap"] = _ => new() { ["target_image_url"] = Url(0), ["swap_image_url"] = Url(3) },
            ["shorten"] = _ => new() { ["prompt"] = "a lighthouse on a cliff at dusk, dramatic light" },
        };

        var expectedSpent = 0;
        var priced = new List<string>();
        foreach (var operation in MidjourneySpec.Rules.Operations)
        {
            Assert.True(cases.ContainsKey(operation.Name), $"add a case for {operation.Name}");
            var values = operation.CreditsBy?.Values.Select(v => ((string?)v.Value, v.Credits)).ToList() ?? [(null, operation.Credits)];
            foreach (var (value, credits) in values)
            {
                var before = await CreditsAsync(sandbox);
                var result = await server.CallAsync(operation.ToolName, cases[operation.Name](value));
                Assert.False(result.IsError == true, $"{operation.ToolName} {value}: {ServerProcess.Text(result)}");
                Assert.True(before - await CreditsAsync(sandbox) == credits, $"{operation.ToolName} {value}: the sandbox charged {before - await CreditsAsync(sandbox)}, the rule table says {credits}");
                expectedSpent += credits;
                priced.Add(operation.Name + (value is null ? string.Empty : " " + value));
            }
        }

        Assert.Contains("upscale-highres 2x", priced);
        Assert.Contains("upscale-highres 4x", priced);
        Assert.Equal(1, MidjourneySpec.UpscaleHighres.CreditsBy!.Values.Single(v => v.Value == "2x").Credits);
        Assert.Equal(2, MidjourneySpec.UpscaleHighres.CreditsBy!.Values.Single(v => v.Value == "4x").Credits);

        // The server counted the same credits (imagine and upscale_1x above cost 4 + 2).
        var account = await server.OkAsync("account", new JsonObject());
        Assert.Equal(expectedSpent + 6, Budget(account, "process").GetProperty("spent").GetInt32());
        Assert.Equal(10_000 - expectedSpent - 6, account.GetProperty("account").GetProperty("credits").GetInt64());
    }
}
