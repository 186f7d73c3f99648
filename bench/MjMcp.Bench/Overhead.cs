using System.Globalization;
using System.Text;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>
/// (a) Tool-call overhead: the same workflows through one mjmcp process and through the SDK alone, each against its own
/// sandbox in this process (same size, same timing, same polling: the SDK's defaults, no webhook), interleaved rounds.
/// </summary>
internal static class Overhead
{
    public static async Task RunAsync(StringBuilder md, IReadOnlyList<Build> builds, Settings settings)
    {
        var loadBefore = Machine.Load();
        Bench.Log("(a) tool-call overhead: starting the sides");
        var sides = new List<IWorkflowDriver> { await SdkDriver.StartAsync() };
        foreach (var build in builds)
        {
            sides.Add(await McpDriver.StartAsync(build, embedded: false));
        }

        var walls = sides.ToDictionary(s => s, _ => new List<double>());
        var failures = sides.ToDictionary(s => s, _ => 0);
        var calls = sides.ToDictionary(s => s, _ => new List<double>());

        // The server's own CPU time per workflow during the rounds at once (JSON-RPC, journal, previews): what mjmcp adds
        // on top of the SDK's work, which both sides do (the SDK side's runs in this process, beside both sandboxes).
        var serverCpu = sides.ToDictionary(s => s, _ => new List<double>());
        var pids = sides.ToDictionary(s => s, s => s is McpDriver mcp ? mcp.Pid : null);
        try
        {
            var next = 0;
            foreach (var side in sides)
            {
                Bench.Log($"  warm-up: {settings.WarmUp} workflows, {side.Label}");
                var (_, failed) = await Bench.ConcurrentAsync(side, settings.WarmUp, next);
                failures[side] += failed;
                next += settings.WarmUp;
            }

            for (var round = 0; round < settings.Rounds; round++)
            {
                for (var j = 0; j < sides.Count; j++)
                {
                    var side = sides[(round + j) % sides.Count];
                    var cpuBefore = pids[side] is { } pid ? Machine.CpuSeconds(pid) : double.NaN;
                    var (seconds, failed) = await Bench.ConcurrentAsync(side, settings.Workflows, next);
                    if (pids[side] is { } after)
                    {
                        serverCpu[side].Add((Machine.CpuSeconds(after) - cpuBefore) / settings.Workflows);
                    }

                    next += settings.Workflows;
                    walls[side].Add(seconds);
                    failures[side] += failed;
                    Bench.Log(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1}: {settings.Workflows} workflows, {side.Label}: {seconds:0.0} s, {failed} failed{(serverCpu[side].Count > round ? $", server CPU {serverCpu[side][round]:0.000} s per workflow" : string.Empty)}"));
                }
            }

            for (var round = 0; round < settings.Rounds; round++)
            {
                for (var j = 0; j < sides.Count; j++)
                {
                    var side = sides[(round + j) % sides.Count];
                    for (var k = 0; k < settings.Sequential; k++)
                    {
                        await side.RunAsync(next++, calls[side]);
                    }

                    Bench.Log(string.Create(CultureInfo.InvariantCulture, $"  one at a time, round {round + 1}, {side.Label}: median call {Median(calls[side]):0.00} s"));
                }
            }
        }
        finally
        {
            foreach (var side in sides)
            {
                await side.DisposeAsync();
            }
        }

        var loadAfter = Machine.Load();
        var sdk = sides[0];
        md.AppendLine("## a. Tool-call overhead: one mjmcp process vs the SDK alone");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Workflow imagine → upscale_1x → pan (3 calls), **{settings.Workflows} at once**, then one call at a time. Real size: 1024-px candidates, 2048-px grids, the server's default timing (brisk: 0.5 s queued, 3 s running), previews on (mjmcp's default), default wait (40 s, then wait_task). Each side has its own sandbox in the bench process (so rendering costs the same on both sides); mjmcp has a key and treats its sandbox as the provider, so **both sides poll identically** (the SDK's default polling, no webhooks) and mjmcp's spend cap is off (the SDK side has none). A warm-up round of {settings.WarmUp} workflows ran first on every side, in the same processes; then {settings.Rounds} rounds, interleaved (the order rotating each round). Times: median (min–max) over the rounds. Server CPU: the mjmcp process's user + system time during the rounds at once, per workflow (/proc; its previews, JSON-RPC and journal)."));
        md.AppendLine();
        Bench.Table(md, ["side", $"{settings.Workflows} workflows at once, s", "tool calls/s", "failed", "one call at a time, median s (min–max)", "server CPU per workflow, s"], sides.Select(s => new[]
        {
            s.Label,
            Spread(walls[s]),
            F(3 * settings.Workflows / Median(walls[s]), "0.0"),
            I(failures[s]),
            Spread(calls[s], "0.00"),
            serverCpu[s].Count > 0 ? Spread(serverCpu[s], "0.000") : "–",
        }));
        foreach (var mcp in sides.Skip(1))
        {
            var paired = walls[mcp].Zip(walls[sdk], (m, s) => m / s).ToList();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- **Ratio MCP/SDK ({mcp.Label}):** {settings.Workflows} at once **{F(Median(walls[mcp]) / Median(walls[sdk]), "0.00")}×** (per round: {string.Join(", ", paired.Select(r => F(r, "0.00")))}); one call at a time **{F(Median(calls[mcp]) / Median(calls[sdk]), "0.00")}×** (medians of {calls[mcp].Count} calls each)."));
        }

        md.AppendLine($"- {Bench.Load(loadBefore, loadAfter)}.");
        md.AppendLine();
    }

    /// <summary>(c) 100 concurrent workflows through the default server: no key, its embedded sandbox renders at full size.</summary>
    public static async Task FullSizeAsync(StringBuilder md, IReadOnlyList<Build> builds, Settings settings)
    {
        var rows = new List<string[]>();
        var loadBefore = Machine.Load();
        foreach (var build in builds)
        {
            Bench.Log($"(c) full-size load: {settings.Workflows} workflows, mjmcp {build.Label}, default mode");
            var server = await McpDriver.StartAsync(build, embedded: true);
            var pid = server.Pid;
            try
            {
                var (seconds, failed) = await Bench.ConcurrentAsync(server, settings.Workflows, 0);
                var peak = pid is { } p ? Machine.PeakRssMiB(p) : double.NaN;
                Bench.Log(string.Create(CultureInfo.InvariantCulture, $"  {seconds:0.0} s, {failed} failed, {server.WaitCalls} wait_task calls, peak RSS {peak:0} MiB"));
                rows.Add([server.Label, I(settings.Workflows), I(failed), I(server.WaitCalls), F(peak, "0"), F(seconds, "0.0"), F(3 * settings.Workflows / seconds, "0.0")]);
            }
            finally
            {
                await server.DisposeAsync();
            }
        }

        md.AppendLine("## c. Full-size load through the default server");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"{settings.Workflows} concurrent workflows (imagine → upscale_1x → pan) through one `mjmcp` in its default mode: no API key, so its embedded sandbox renders real 1024-px candidates (2048-px grids) inside the server process, with webhooks and the default brisk timing. A call that returns before its task finished (the 40 s bound) is followed by `wait_task`. Peak RSS is the server process's VmHWM (/proc). One run per build, from a fresh data directory."));
        md.AppendLine();
        Bench.Table(md, ["server", "workflows", "failed", "wait_task calls needed", "peak RSS, MiB", "wall, s", "tool calls/s"], rows);
        md.AppendLine($"- {Bench.Load(loadBefore, Machine.Load())}.");
        md.AppendLine();
    }
}
