using System.Diagnostics;
using System.Globalization;
using System.Text;
using MjMcp.Imaging;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>
/// (d) A 2048² grid (four 1024-px candidates): the render, then the PNG encode with the baseline settings
/// (<see cref="PngEncoderOptions.Baseline"/>, the encoder before issue 11) and with the current default, side by side:
/// the same grid each round, the two encoders interleaved (the order alternating), medians and spread.
/// </summary>
internal static class Grid
{
    private const string Prompt = "a lighthouse at dusk, oil painting";

    public static void Run(StringBuilder md, int rounds)
    {
        Bench.Log("(d) grid render + encode, baseline vs current encoder");
        var loadBefore = Machine.Load();
        var render = new List<double>();
        var baseline = new List<double>();
        var current = new List<double>();
        long baselineSize = 0;
        long currentSize = 0;
        for (var round = -1; round < rounds; round++) // round -1 warms both encoders up
        {
            var clock = Stopwatch.StartNew();
            var grid = Pictures.CandidateGrid(Prompt, 1234, 1024, 1024);
            var rendered = clock.Elapsed.TotalMilliseconds;

            // The same grid for both encoders; who goes first alternates, so neither always runs on a warmer cache.
            var (baselineMs, baselinePng) = (0.0, Array.Empty<byte>());
            var (currentMs, currentPng) = (0.0, Array.Empty<byte>());
            if (round % 2 == 0)
            {
                (baselineMs, baselinePng) = Encode(grid, PngEncoderOptions.Baseline);
                (currentMs, currentPng) = Encode(grid, PngEncoderOptions.Default);
            }
            else
            {
                (currentMs, currentPng) = Encode(grid, PngEncoderOptions.Default);
                (baselineMs, baselinePng) = Encode(grid, PngEncoderOptions.Baseline);
            }

            if (round < 0)
            {
                // Both files must hold the same picture, or the comparison would mean nothing.
                if (!PngCodec.Decode(baselinePng).Pixels.AsSpan().SequenceEqual(PngCodec.Decode(currentPng).Pixels))
                {
                    throw new InvalidOperationException("the baseline and current encoders decode to different pixels");
                }

                continue;
            }

            render.Add(rendered);
            baseline.Add(baselineMs);
            current.Add(currentMs);
            baselineSize = baselinePng.Length;
            currentSize = currentPng.Length;
        }

        var ratios = baseline.Zip(current, (b, c) => b / c).ToList();
        md.AppendLine("## d. Grid render and PNG encode (2048²)");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Four 1024-px candidates rendered into a 2048² grid (`Pictures.CandidateGrid`), then that same grid encoded with the baseline settings (`PngEncoderOptions.Baseline`: the encoder before issue 11, byte-by-byte filters, one thread) and with the current default (`PngEncoderOptions.Default`), interleaved, the order alternating each round; both files decode to the same pixels (checked). One warm-up, then {rounds} rounds in the bench process; median (min–max)."));
        md.AppendLine();
        Bench.Table(md, ["encoder", "PNG encode, ms", "PNG size, KiB"], [
            ["baseline (`PngEncoderOptions.Baseline`)", Spread(baseline, "0"), F(baselineSize / 1024.0, "0")],
            ["current (`PngEncoderOptions.Default`)", Spread(current, "0"), F(currentSize / 1024.0, "0")],
        ]);
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- Encode, baseline ÷ current, per round: **{Spread(ratios, "0.0")}×**; size, current ÷ baseline: {F((double)currentSize / baselineSize, "0.000")}."));
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- Render of the grid (before either encode): {Spread(render, "0")} ms."));
        md.AppendLine($"- {Bench.Load(loadBefore, Machine.Load())}.");
        md.AppendLine();
    }

    private static (double Ms, byte[] Png) Encode(RgbaImage grid, PngEncoderOptions options)
    {
        var clock = Stopwatch.StartNew();
        var png = PngCodec.Encode(grid, options);
        return (clock.Elapsed.TotalMilliseconds, png);
    }
}
