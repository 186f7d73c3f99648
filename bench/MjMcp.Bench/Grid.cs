using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using MjMcp.Imaging;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>
/// (d) A 2048² grid (four 1024-px candidates, one prompt and seed) rendered and PNG-encoded two ways in the same run:
/// the way the sandbox did it when issue 11 was filed (the imaging code of commit <see cref="BaselineCommit"/>, built by
/// bench/run.sh into its own assembly and loaded here: four candidate images, pasted into a grid, encoded) and the way
/// it does it now (the grid drawn in place into a pooled array, encoded with <see cref="PngEncoderOptions.Default"/>).
/// Interleaved (the order alternating), one warm-up, medians and spread of wall and CPU time; both PNGs decode to the
/// same pixels (checked). Then the current grid encoded with a few encoder settings, for the size each costs.
/// </summary>
internal static class Grid
{
    public const string BaselineCommit = "67689cf";
    private const string Prompt = "a lighthouse at dusk, oil painting";
    private const long Seed = 1234;
    private const int Side = 1024;

    public static void Run(StringBuilder md, int rounds, string? baselineDll)
    {
        Bench.Log("(d) grid render + encode, the sandbox at " + BaselineCommit + " vs now");
        md.AppendLine("## d. Grid render and PNG encode (2048²)");
        md.AppendLine();
        if (baselineDll is null || !File.Exists(baselineDll))
        {
            md.AppendLine($"Not measured in this run: the imaging code of {BaselineCommit} was not built (bench/run.sh builds it and passes `--baseline-imaging`).");
            md.AppendLine();
            return;
        }

        var loadBefore = Machine.Load();
        var old = new OldImaging(baselineDll);
        var sides = new[] { new Samples(), new Samples() }; // 0: at 67689cf, 1: now
        long oldSize = 0, newSize = 0;
        // Warm-up: the runtime optimises a method fully only after 30 calls (tiered compilation; loops earlier, by OSR),
        // and the current encoder's row loop runs once per band: 16 rounds bring both sides to the code a long-running
        // sandbox runs (the earlier rounds, partly in instrumented code, took about twice the time).
        const int WarmUp = 16;
        for (var round = -WarmUp; round < rounds; round++)
        {
            if (round == 0)
            {
                Thread.Sleep(500); // the runtime recompiles hot methods in the background: let it finish first
            }

            var oldFirst = round % 2 == 0;
            byte[] oldPng = [], newPng = [];
            for (var turn = 0; turn < 2; turn++)
            {
                if ((turn == 0) == oldFirst)
                {
                    oldPng = Measure(sides[0], round >= 0, old.Render, old.Encode);
                }
                else
                {
                    newPng = Measure(sides[1], round >= 0, RenderNow, EncodeNow);
                }
            }

            if (round == -WarmUp)
            {
                // Both files must hold the same picture, or the comparison would mean nothing.
                if (!PngCodec.Decode(oldPng).Pixels.AsSpan().SequenceEqual(PngCodec.Decode(newPng).Pixels))
                {
                    throw new InvalidOperationException($"the grids of {BaselineCommit} and now decode to different pixels");
                }
            }

            oldSize = oldPng.Length;
            newSize = newPng.Length;
        }

        var (at, now) = (sides[0], sides[1]);
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Four 1024-px candidates (one prompt and seed) made into a 2048² grid and encoded as PNG, in the bench process, two ways: **{BaselineCommit}** is the sandbox when issue 11 was filed, its imaging code built from that commit by bench/run.sh (`git archive`, Release, assembly `MjMcp.Imaging.Baseline`): four `Pictures.Candidate` images, `Pictures.Grid`, `PngCodec.Encode` (RGBA, Up filter, zlib level 1, one thread). **now** is the sandbox's way today: the candidates drawn in place into a pooled grid (`Pictures.CandidateInto`), encoded with `PngEncoderOptions.Default`. Interleaved, the order alternating each round; {WarmUp} warm-up rounds, then {rounds} rounds; median (min–max). CPU is the process's user + system time (`Process.TotalProcessorTime`) over the step; a full garbage collection precedes each timed step (untimed), so neither side pays for the other's garbage. Both PNGs decode to the same pixels (checked): equal visual content."));
        md.AppendLine();
        Bench.Table(md, ["", "render, ms", "encode, ms", "render + encode, ms", "render CPU, ms", "encode CPU, ms", "render + encode CPU, ms", "PNG, KiB"], [
            [BaselineCommit, Spread(at.Render, "0"), Spread(at.Encode, "0"), Spread(at.Total, "0"), Spread(at.RenderCpu, "0"), Spread(at.EncodeCpu, "0"), Spread(at.TotalCpu, "0"), F(oldSize / 1024.0, "0")],
            ["now", Spread(now.Render, "0"), Spread(now.Encode, "0"), Spread(now.Total, "0"), Spread(now.RenderCpu, "0"), Spread(now.EncodeCpu, "0"), Spread(now.TotalCpu, "0"), F(newSize / 1024.0, "0")],
        ]);
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- **{BaselineCommit} ÷ now, render + encode: {Ratio(at.Total, now.Total)}× wall, {Ratio(at.TotalCpu, now.TotalCpu)}× CPU** (per round: median (min–max)); render {Ratio(at.Render, now.Render)}× wall, {Ratio(at.RenderCpu, now.RenderCpu)}× CPU; encode {Ratio(at.Encode, now.Encode)}× wall, {Ratio(at.EncodeCpu, now.EncodeCpu)}× CPU."));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- PNG size, now ÷ {BaselineCommit}: {F((double)newSize / oldSize, "0.00")} ({F(oldSize / 1e6, "0.00")} MB → {F(newSize / 1e6, "0.00")} MB)."));
        md.AppendLine($"- {Bench.Load(loadBefore, Machine.Load())}.");
        md.AppendLine();
        EncoderSettings(md, rounds);
    }

    /// <summary>The current grid encoded with a few settings: what each costs in time and size (why the default is what it is).</summary>
    private static void EncoderSettings(StringBuilder md, int rounds)
    {
        var grid = PixelPool.Rent(Side * 2, Side * 2);
        try
        {
            DrawNow(grid);
            (string Label, PngEncoderOptions Options)[] settings =
            [
                ("default (`PngEncoderOptions.Default`: literal blocks)", PngEncoderOptions.Default),
                ("zlib level 1 (the default before literal blocks)", PngEncoderOptions.Default with { LiteralBlocks = false }),
                ("zlib level 1, filtered strategy", PngEncoderOptions.Default with { LiteralBlocks = false, Strategy = System.IO.Compression.ZLibCompressionStrategy.Filtered }),
                ("zlib level 1, run-length strategy", PngEncoderOptions.Default with { LiteralBlocks = false, Strategy = System.IO.Compression.ZLibCompressionStrategy.RunLengthEncoding }),
                ("zlib level 1, Huffman only", PngEncoderOptions.Default with { LiteralBlocks = false, Strategy = System.IO.Compression.ZLibCompressionStrategy.HuffmanOnly }),
                ("zlib level 6 (`Optimal`)", PngEncoderOptions.Default with { LiteralBlocks = false, CompressionLevel = 6, Strategy = System.IO.Compression.ZLibCompressionStrategy.Default }),
                ("zlib level 9 (`SmallestSize`)", PngEncoderOptions.Default with { LiteralBlocks = false, CompressionLevel = 9, Strategy = System.IO.Compression.ZLibCompressionStrategy.Default }),
                ("literal blocks, one thread", PngEncoderOptions.Default with { Parallel = false }),
                ("`PngEncoderOptions.Baseline` (zlib level 1, scalar rows, one thread)", PngEncoderOptions.Baseline),
            ];
            var times = settings.Select(_ => new List<double>()).ToArray();
            var cpus = settings.Select(_ => new List<double>()).ToArray();
            var sizes = new long[settings.Length];
            for (var round = -1; round < Math.Max(2, rounds / 2); round++)
            {
                for (var k = 0; k < settings.Length; k++)
                {
                    var (ms, cpu, png) = Time(() =>
                    {
                        using var stream = new MemoryStream();
                        PngCodec.Encode(grid, stream, settings[k].Options);
                        return stream.ToArray();
                    });
                    if (round >= 0)
                    {
                        times[k].Add(ms);
                        cpus[k].Add(cpu);
                    }

                    sizes[k] = png.Length;
                }
            }

            md.AppendLine("The current grid (RGB, Sub on the first row, Up below) encoded with other settings, one after the other, one warm-up; median (min–max):");
            md.AppendLine();
            Bench.Table(md, ["encoder", "encode, ms", "encode CPU, ms", "PNG, KiB", "size ÷ default"], settings.Select((s, k) => new[]
            {
                s.Label, Spread(times[k], "0"), Spread(cpus[k], "0"), F(sizes[k] / 1024.0, "0"), F((double)sizes[k] / sizes[0], "0.00"),
            }));
        }
        finally
        {
            PixelPool.Return(grid);
        }
    }

    private static string Ratio(List<double> before, List<double> after) => Spread(before.Zip(after, (b, a) => b / a).ToList(), "0.0");

    /// <summary>Renders, then encodes, each timed (wall and process CPU); kept in <paramref name="samples"/> unless a warm-up.</summary>
    private static byte[] Measure(Samples samples, bool keep, Func<object> render, Func<object, byte[]> encode)
    {
        object? image = null;
        var (renderMs, renderCpu, _) = Time(() =>
        {
            image = render();
            return [];
        });
        var (encodeMs, encodeCpu, png) = Time(() => encode(image!));
        if (image is RgbaImage pooled)
        {
            PixelPool.Return(pooled);
        }

        if (Environment.GetEnvironmentVariable("MJMCP_BENCH_VERBOSE") == "1")
        {
            Bench.Log(string.Create(CultureInfo.InvariantCulture, $"  {(image is RgbaImage ? "now" : "old")}: render {renderMs:0} ms ({renderCpu:0} CPU), encode {encodeMs:0} ms ({encodeCpu:0} CPU), load {Machine.Load():0.0}"));
        }

        if (keep)
        {
            samples.Render.Add(renderMs);
            samples.Encode.Add(encodeMs);
            samples.Total.Add(renderMs + encodeMs);
            samples.RenderCpu.Add(renderCpu);
            samples.EncodeCpu.Add(encodeCpu);
            samples.TotalCpu.Add(renderCpu + encodeCpu);
        }

        return png;
    }

    private static (double Ms, double CpuMs, byte[] Result) Time(Func<byte[]> step)
    {
        // Outside the timing: a full collection first, so no step pays (in CPU or wall) for the garbage of the one before
        // (the 67689cf render leaves 32 MiB of candidate and grid arrays; the current one draws into a pooled array).
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        var result = step();
        var ms = clock.Elapsed.TotalMilliseconds;
        process.Refresh();
        return (ms, (process.TotalProcessorTime - cpu).TotalMilliseconds, result);
    }

    /// <summary>The sandbox's grid today (SandboxServer.SaveGrid): a pooled array, each candidate drawn into its quadrant.</summary>
    private static object RenderNow()
    {
        var grid = PixelPool.Rent(Side * 2, Side * 2);
        DrawNow(grid);
        return grid;
    }

    private static void DrawNow(RgbaImage grid)
    {
        for (var variant = 1; variant <= 4; variant++)
        {
            Pictures.CandidateInto(grid, ((variant - 1) % 2) * Side, ((variant - 1) / 2) * Side, Prompt, Seed, variant, Side, Side);
        }
    }

    /// <summary>The sandbox streams the PNG to its file; here to memory.</summary>
    private static byte[] EncodeNow(object grid)
    {
        using var stream = new MemoryStream();
        PngCodec.Encode((RgbaImage)grid, stream, PngEncoderOptions.Default);
        return stream.ToArray();
    }

    private sealed class Samples
    {
        public List<double> Render { get; } = [];

        public List<double> Encode { get; } = [];

        public List<double> Total { get; } = [];

        public List<double> RenderCpu { get; } = [];

        public List<double> EncodeCpu { get; } = [];

        public List<double> TotalCpu { get; } = [];
    }

    /// <summary>
    /// The imaging assembly of <see cref="BaselineCommit"/> (same namespace and type names, its own assembly name),
    /// called by reflection: four calls a round, so the reflection costs nothing measurable. What the sandbox did then
    /// (SandboxServer.SaveGrid at that commit): four <c>Pictures.Candidate</c>, <c>Pictures.Grid</c>, <c>PngCodec.Encode</c>.
    /// </summary>
    private sealed class OldImaging
    {
        private readonly MethodInfo _candidate;
        private readonly MethodInfo _grid;
        private readonly MethodInfo _encode;

        public OldImaging(string dll)
        {
            var assembly = Assembly.LoadFrom(Path.GetFullPath(dll));
            var pictures = assembly.GetType("MjMcp.Imaging.Pictures", throwOnError: true)!;
            var image = assembly.GetType("MjMcp.Imaging.RgbaImage", throwOnError: true)!;
            _candidate = pictures.GetMethod("Candidate", [typeof(string), typeof(long), typeof(int), typeof(int), typeof(int)])!;
            _grid = pictures.GetMethod("Grid", [image, image, image, image])!;
            _encode = assembly.GetType("MjMcp.Imaging.PngCodec", throwOnError: true)!.GetMethod("Encode", [image, typeof(Stream)])!;
        }

        public object Render()
        {
            var parts = Enumerable.Range(1, 4).Select(v => _candidate.Invoke(null, [Prompt, Seed, v, Side, Side])!).ToArray();
            return _grid.Invoke(null, parts)!;
        }

        public byte[] Encode(object grid)
        {
            using var stream = new MemoryStream();
            _encode.Invoke(null, [grid, stream]);
            return stream.ToArray();
        }
    }
}
