using System.Diagnostics;
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
        // Two baselines, each doing the waiting of the mjmcp modes compared with it: the SDK polling (as mjmcp with a key,
        // previews inline or as links) and the SDK with webhooks (as mjmcp's default mode, whose embedded sandbox hands
        // over the previews it made while rendering; the baseline's sandbox makes them too).
        var polling = await SdkDriver.StartAsync();
        var hooked = await SdkDriver.StartAsync(webhooks: true);
        var sides = new List<IWorkflowDriver>();
        if (settings.Modes.Any(m => m != McpMode.Embedded))
        {
            sides.Add(polling);
        }

        if (settings.Modes.Contains(McpMode.Embedded))
        {
            sides.Add(hooked);
        }

        foreach (var mode in settings.Modes)
        {
            foreach (var build in builds)
            {
                sides.Add(await McpDriver.StartAsync(build, mode));
            }
        }

        IWorkflowDriver BaselineOf(IWorkflowDriver side) => side is McpDriver { Mode: McpMode.Embedded } ? hooked : polling;

        var walls = sides.ToDictionary(s => s, _ => new List<double>());
        var failures = sides.ToDictionary(s => s, _ => 0);
        var calls = sides.ToDictionary(s => s, _ => new List<double>());

        // The server's own CPU time per workflow during the rounds at once (JSON-RPC, journal, previews): what mjmcp adds
        // on top of the SDK's work, which both sides do (the SDK side's runs in this process, beside both sandboxes).
        var serverCpu = sides.ToDictionary(s => s, _ => new List<double>());

        // And this process's (the clients, the sandboxes in it, the SDK baselines' webhook receiver): with the server's,
        // the CPU a side costs in all, a steadier comparison than wall time on a shared machine.
        var benchCpu = sides.ToDictionary(s => s, _ => new List<double>());
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
                    var ownBefore = Process.GetCurrentProcess().TotalProcessorTime;
                    var (seconds, failed) = await Bench.ConcurrentAsync(side, settings.Workflows, next);
                    benchCpu[side].Add((Process.GetCurrentProcess().TotalProcessorTime - ownBefore).TotalSeconds / settings.Workflows);
                    if (pids[side] is { } after)
                    {
                        serverCpu[side].Add((Machine.CpuSeconds(after) - cpuBefore) / settings.Workflows);
                    }

                    next += settings.Workflows;
                    walls[side].Add(seconds);
                    failures[side] += failed;
                    Bench.Log(string.Create(CultureInfo.InvariantCulture, $"  round {round + 1}: {settings.Workflows} workflows, {side.Label}: {seconds:0.0} s, {failed} failed, bench CPU {benchCpu[side][round]:0.000} s{(serverCpu[side].Count > round ? $", server CPU {serverCpu[side][round]:0.000} s" : string.Empty)} per workflow"));
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
            foreach (var side in sides.Union([polling, hooked]))
            {
                await side.DisposeAsync();
            }
        }

        var loadAfter = Machine.Load();
        md.AppendLine("## a. Tool-call overhead: one mjmcp process vs the SDK alone");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Workflow imagine → upscale_1x → pan (3 calls), **{settings.Workflows} at once**, then one call at a time. Real size: 1024-px candidates, 2048-px grids, the server's default timing (brisk: 0.5 s queued, 3 s running), previews on (mjmcp's default) unless the row says otherwise, default wait (40 s, then wait_task). Each side has its own sandbox (so rendering costs the same on every side), compared with the baseline that waits the same way. **With a key** (the rows marked → sandbox): mjmcp treats a sandbox in the bench process as the provider, so it and the SDK baseline **poll identically** (the SDK's default polling, no webhooks), and mjmcp's spend cap is off (the SDK side has none); its previews are made from the downloaded PNG (inline, the default) or not made on the call at all (`MJMCP_PREVIEWS=link`). **Default mode** (no key): mjmcp's embedded sandbox renders inside the server process, sends webhooks to the server's receiver and hands over the previews it made while rendering; its baseline is the SDK with webhooks through the same receiver code (`WebhookReceiver`), against a sandbox in the bench process. A warm-up round of {settings.WarmUp} workflows ran first on every side, in the same processes; then {settings.Rounds} rounds, interleaved (the order rotating each round). Times: median (min–max) over the rounds. CPU, per workflow during the rounds at once: the bench process's (its clients, the sandboxes in it, the SDK's webhook receiver) and the mjmcp process's (/proc; its previews, JSON-RPC and journal, and in the default mode its sandbox's rendering too), user + system time; in all, their sum: on 2 shared cores the wall time follows it."));
        md.AppendLine();
        // Per round, the CPU a side cost in all (this process + its server).
        List<double> TotalCpu(IWorkflowDriver side) => serverCpu[side].Count == 0 ? benchCpu[side] : [.. benchCpu[side].Zip(serverCpu[side], (b, m) => b + m)];
        Bench.Table(md, ["side", $"{settings.Workflows} workflows at once, s", "tool calls/s", "failed", "one call at a time, median s (min–max)", "bench process CPU per workflow, s", "mjmcp CPU per workflow, s", "CPU in all per workflow, s"], sides.Select(s => new[]
        {
            s.Label,
            Spread(walls[s]),
            F(3 * settings.Workflows / Median(walls[s]), "0.0"),
            I(failures[s]),
            Spread(calls[s], "0.00"),
            Spread(benchCpu[s], "0.000"),
            serverCpu[s].Count > 0 ? Spread(serverCpu[s], "0.000") : "–",
            Spread(TotalCpu(s), "0.000"),
        }));
        // With a key and inline previews, the least mjmcp could cost: the SDK side's work, the bench process's work for
        // that side (its sandbox serves the PNG downloads), and inflating the three PNGs, with every other step free.
        var floor = sides.Any(s => s is McpDriver { Mode: McpMode.Provider }) ? Previews.InflateFloorSeconds() : double.NaN;
        foreach (var mcp in sides.OfType<McpDriver>())
        {
            var sdk = BaselineOf(mcp);
            var paired = walls[mcp].Zip(walls[sdk], (m, s) => m / s).ToList();
            md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- **Ratio MCP/SDK ({mcp.Label} ÷ {sdk.Label}):** {settings.Workflows} at once **{F(Median(walls[mcp]) / Median(walls[sdk]), "0.00")}×** (per round: {string.Join(", ", paired.Select(r => F(r, "0.00")))}); one call at a time **{F(Median(calls[mcp]) / Median(calls[sdk]), "0.00")}×** (medians of {calls[mcp].Count} calls each); CPU in all {F(Median(TotalCpu(mcp)) / Median(TotalCpu(sdk)), "0.00")}×."));
            if (mcp.Mode == McpMode.Provider)
            {
                var least = Median(benchCpu[mcp]) + floor;
                md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"  - The least this side could cost: its bench process's CPU ({F(Median(benchCpu[mcp]), "0.000")} s per workflow: the clients, and the sandbox rendering and serving the PNGs) plus inflating the workflow's three PNGs ({F(floor, "0.000")} s, measured here: 2048² grid, 1024² upscale, 3072×2048 pan grid), every other step of the previews, JSON-RPC and journal free: **{F(least, "0.000")} s, {F(least / Median(TotalCpu(sdk)), "0.00")}× the SDK's CPU in all**. mjmcp's part of it is {F(floor / Median(serverCpu[mcp]), "0.00")} of what it spent."));
            }
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
