using System.Diagnostics;
using System.Globalization;
using System.Text;
using MjMcp.Imaging;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>(d) Rendering a 2048² grid (four 1024-px candidates) and encoding it as PNG.</summary>
internal static class Grid
{
    public static void Run(StringBuilder md, int rounds)
    {
        Bench.Log("(d) grid render + encode");
        var loadBefore = Machine.Load();
        var render = new List<double>();
        var encode = new List<double>();
        long size = 0;
        for (var round = -1; round < rounds; round++) // round -1 warms up
        {
            var clock = Stopwatch.StartNew();
            var candidates = Enumerable.Range(0, 4).Select(v => Pictures.Candidate("a lighthouse at dusk, oil painting", 1234, v)).ToArray();
            var grid = Pictures.Grid(candidates[0], candidates[1], candidates[2], candidates[3]);
            var rendered = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            var png = PngCodec.Encode(grid);
            var encoded = clock.Elapsed.TotalMilliseconds;
            if (round >= 0)
            {
                render.Add(rendered);
                encode.Add(encoded);
                size = png.Length;
            }
        }

        md.AppendLine("## d. Grid render and PNG encode (2048²)");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Four 1024-px candidates rendered and composed into a 2048² grid, then encoded with `PngCodec.Encode` (the current encoder; the baseline settings are not exposed yet, so only the current encoder is measured). One warm-up, then {rounds} rounds on one thread; median (min–max)."));
        md.AppendLine();
        Bench.Table(md, ["encoder", "render, ms", "PNG encode, ms", "PNG size, KiB"], [["current", Spread(render, "0"), Spread(encode, "0"), F(size / 1024.0, "0")]]);
        md.AppendLine($"- {Bench.Load(loadBefore, Machine.Load())}.");
        md.AppendLine();
    }
}
