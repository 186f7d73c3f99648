using System.Diagnostics;
using System.Text.Json.Nodes;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>The journal and slot settings (MJMCP_JOURNAL, MJMCP_WEBHOOK_URL, MJMCP_MAX_CONCURRENT_JOBS) as a user meets them.</summary>
public sealed class JournalSettingsTests
{
    [Fact]
    public async Task SettingsShowTheJournalWithoutItsPassword()
    {
        var run = await RunAsync(
            ["settings", "--journal", "Host=db.example.com;Database=mjmcp;Username=mj;Password=hunter2-secret"],
            new() { ["MJMCP_MAX_CONCURRENT_JOBS"] = "4", ["MJMCP_WEBHOOK_URL"] = "https://mj.example.com/mjmcp/webhook" });
        Assert.True(run.Exit == 0, run.Stderr);
        Assert.Contains("Journal: PostgreSQL Host=db.example.com;Database=mjmcp;Username=mj\n", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("MaxConcurrentJobs: 4\n", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("WebhookUrl: https://mj.example.com/mjmcp/webhook", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", run.Stdout + run.Stderr, StringComparison.Ordinal);

        var unset = await RunAsync(["settings"]);
        Assert.Contains("Journal: (not set: SQLite in the data directory)", unset.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("MJMCP_JOURNAL", "journal.db", "MJMCP_JOURNAL")]
    [InlineData("MJMCP_WEBHOOK_URL", "not a url", "MJMCP_WEBHOOK_URL")]
    [InlineData("MJMCP_MAX_CONCURRENT_JOBS", "-1", "MJMCP_MAX_CONCURRENT_JOBS")]
    [InlineData("MJMCP_MAX_CONCURRENT_JOBS", "four", "MJMCP_MAX_CONCURRENT_JOBS")]
    public async Task ABadSettingIsOneLineNamingIt(string variable, string value, string named)
    {
        var run = await RunAsync(["settings"], new() { [variable] = value });
        Assert.Equal(2, run.Exit);
        Assert.Contains(named, run.Stderr, StringComparison.Ordinal);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public async Task AnUnreachableJournalStopsTheServerWithOneLineAndNoPassword()
    {
        var run = await RunAsync([], new() { ["MJMCP_JOURNAL"] = "Host=127.0.0.1;Port=1;Database=mjmcp;Username=mj;Password=hunter2-secret;Timeout=2" });
        Assert.Equal(2, run.Exit);
        Assert.StartsWith("mjmcp: The task journal (PostgreSQL Host=127.0.0.1;Port=1;Database=mjmcp;Username=mj", run.Stderr, StringComparison.Ordinal);
        Assert.Contains("MJMCP_JOURNAL", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.Empty(run.Stdout);
    }

    [Fact]
    public async Task AJobSlotIsHeldUntilTheTaskFinishesNotJustWhileTheCallWaits()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "slot-hold-key", DataDirectory = Paths.TempDir("slot-sandbox"), Timing = new SandboxTiming(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(3)), CandidateSize = 64 });
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_MAX_CONCURRENT_JOBS"] = "1" });

        // The first call returns at once; its job still runs at the provider, so the only slot stays taken.
        var first = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "returns early", ["wait_seconds"] = 0 });
        Assert.NotEqual("finished", first.GetProperty("state").GetString());
        var busy = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "no slot", ["wait_seconds"] = 0 });
        Assert.True(busy.IsError);
        Assert.Equal("server_busy", busy.StructuredContent!.Value.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("MJMCP_MAX_CONCURRENT_JOBS", ServerProcess.Text(busy), StringComparison.Ordinal);
        Assert.Equal(1, sandbox.Counters.AcceptedSubmissions); // nothing was sent

        // A call that may wait gets the slot once the first job is finished: never two jobs at once.
        var second = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "waits for the slot", ["wait_seconds"] = 40 });
        Assert.Equal("finished", second.GetProperty("state").GetString());
        Assert.Equal(2, sandbox.Counters.AcceptedSubmissions);
        Assert.Equal(1, sandbox.Counters.MaxRunning);
    }

    private static Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args, Dictionary<string, string?>? env = null)
    {
        var all = new Dictionary<string, string?>(env ?? []);
        all.TryAdd("MJMCP_DATA_DIR", Paths.TempDir("journal-cli-data"));
        return CliTests.RunAsync(args, all, Paths.TempDir("journal-cli"));
    }
}
