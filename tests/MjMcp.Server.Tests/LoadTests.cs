using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using MjMcp.Sandbox;
using Xunit.Abstractions;

namespace MjMcp.Server.Tests;

/// <summary>
/// 100 concurrent workflows through one server process against the sandbox: all succeed, none is lost or
/// duplicated. Throughput and the server's peak memory are printed, never asserted (shared, noisy machines).
/// </summary>
public sealed class LoadTests(ITestOutputHelper output)
{
    [Fact]
    public async Task AHundredConcurrentWorkflowsThroughOneServerAllSucceed()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "load-key", CandidateSize = 64 });
        // All 100 at once: no spend cap (with a key the server would hold 100 workflows to 12 jobs at once). The overhead
        // of MCP against the SDK alone is measured by bench/run.sh (docs/benchmarks.md), like for like; this test checks
        // that none is lost or duplicated.
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_MAX_CONCURRENT_SUBMITS"] = "0" });
        var clock = Stopwatch.StartNew();
        var finished = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "load " + i });
            var pick = await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid.GetProperty("task_id").GetString(), ["index"] = 1 + (i % 4) });
            var pan = await server.OkAsync("pan", new JsonObject { ["parent_task_id"] = pick.GetProperty("task_id").GetString(), ["direction"] = "right" });
            return pan.GetProperty("stage").GetString();
        }));
        clock.Stop();
        Assert.All(finished, stage => Assert.Equal("grid", stage));
        Assert.Equal(300, sandbox.Counters.AcceptedSubmissions);

        var peak = server.FindPid() is { } pid ? PeakMemory(pid) : "unknown";
        var line = string.Create(CultureInfo.InvariantCulture, $"load: 100 workflows (300 tool calls, 64-px candidates) in {clock.Elapsed.TotalSeconds:0.0} s; server peak RSS {peak}; sandbox requests {sandbox.Counters.TotalRequests}");
        output.WriteLine(line);
        Console.Error.WriteLine(line);
    }

    [Fact]
    public async Task AHundredConcurrentFullSizeWorkflowsOnTheEmbeddedSandboxAllSucceed()
    {
        // The default server: no key, so its embedded sandbox renders real 1024-px candidates (2048-px grids).
        await using var server = await ServerProcess.StartAsync(null, env: new() { ["MJMCP_SANDBOX_TIMING"] = "brisk" });
        var clock = Stopwatch.StartNew();
        var waits = 0;
        async Task<System.Text.Json.JsonElement> FinishedAsync(string tool, JsonObject args)
        {
            var result = await server.OkAsync(tool, args);
            while (result.GetProperty("state").GetString() != "finished")
            {
                Interlocked.Increment(ref waits);
                result = await server.OkAsync("wait_task", new JsonObject { ["task_id"] = result.GetProperty("task_id").GetString() });
            }

            return result;
        }

        var finished = await Task.WhenAll(Enumerable.Range(0, 100).Select(async i =>
        {
            var grid = await FinishedAsync("imagine", new JsonObject { ["prompt"] = "full size " + i });
            var pick = await FinishedAsync("upscale_1x", new JsonObject { ["parent_task_id"] = grid.GetProperty("task_id").GetString(), ["index"] = 1 + (i % 4) });
            var pan = await FinishedAsync("pan", new JsonObject { ["parent_task_id"] = pick.GetProperty("task_id").GetString(), ["direction"] = "left" });
            return pan.GetProperty("stage").GetString();
        }));
        clock.Stop();
        Assert.All(finished, stage => Assert.Equal("grid", stage));
        var pid = server.FindPid();
        var peak = pid is { } p ? PeakMemory(p) : "unknown";

        // CPU seconds the server process used: unlike wall time, barely changed by other work on a shared machine.
        var cpu = pid is { } q ? CpuSeconds(q) : null;
        var line = string.Create(CultureInfo.InvariantCulture, $"full-size load: 100 workflows (300 tool calls, 1024-px candidates, embedded sandbox) in {clock.Elapsed.TotalSeconds:0.0} s; wait_task calls needed {waits}; server peak RSS {peak}; server CPU {cpu?.ToString("0.0", CultureInfo.InvariantCulture) ?? "unknown"} s; load average {LoadAverage()}");
        output.WriteLine(line);
        Console.Error.WriteLine(line);
    }

    /// <summary>User + system CPU seconds of a process (fields 14 and 15 of /proc/{pid}/stat, in clock ticks of 1/100 s).</summary>
    private static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string PeakMemory(int pid)
    {
        try
        {
            return File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal))?[6..].Trim() ?? "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
