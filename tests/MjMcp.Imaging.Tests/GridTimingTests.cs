using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace MjMcp.Imaging.Tests;

/// <summary>Runs alone (no other test class at the same time), so its CPU figures are its own.</summary>
[CollectionDefinition(nameof(TimingCollection), DisableParallelization = true)]
public sealed class TimingCollection
{
}

/// <summary>
/// Issue 11's figures, baseline and new side by side in one run: printed, never asserted (shared, noisy machines).
/// Baseline: four candidates drawn by the old loop, pasted into a grid, encoded with <see cref="PngEncoderOptions.Baseline"/>.
/// </summary>
[Collection(nameof(TimingCollection))]
public sealed class GridTimingTests(ITestOutputHelper output)
{
    [Fact]
    public void AFullSizeGridBaselineAgainstNewIsPrinted()
    {
        // Measured in one run, each side warmed up first: render four 1024² candidates, make the 2048² grid, encode it.
        const string Prompt = "a lighthouse at dusk, stormy sea";
        byte[] Baseline()
        {
            var parts = Enumerable.Range(1, 4).Select(v => FastPathTests.OldCandidate(Prompt, 7, v, 1024, 1024)).ToArray();
            return PngCodec.Encode(Pictures.Grid(parts[0], parts[1], parts[2], parts[3]), PngEncoderOptions.Baseline);
        }

        byte[] New()
        {
            using var stream = new MemoryStream();
            PngCodec.Encode(Pictures.CandidateGrid(Prompt, 7, 1024, 1024), stream, PngEncoderOptions.Default);
            return stream.ToArray();
        }

        var (baselineTime, baselineCpu, baselinePng) = Measure(Baseline);
        var (newTime, newCpu, newPng) = Measure(New);
        Assert.Equal(PngCodec.Decode(baselinePng).Pixels, PngCodec.Decode(newPng).Pixels);

        var grid = Pictures.CandidateGrid(Prompt, 7, 1024, 1024);
        var (encodeBaseline, encodeBaselineCpu, _) = Measure(() => PngCodec.Encode(grid, PngEncoderOptions.Baseline));
        var (encodeNew, encodeNewCpu, _) = Measure(() => PngCodec.Encode(grid, PngEncoderOptions.Default));
        var line = string.Create(
            CultureInfo.InvariantCulture,
            $"2048² grid render+encode: baseline {baselineTime:0} ms ({baselineCpu:0} ms CPU), PNG {baselinePng.Length / 1e6:0.00} MB; new {newTime:0} ms ({newCpu:0} ms CPU), PNG {newPng.Length / 1e6:0.00} MB; {baselineTime / newTime:0.0}x wall, {baselineCpu / newCpu:0.0}x CPU. Encode alone: baseline {encodeBaseline:0} ms ({encodeBaselineCpu:0} CPU), new {encodeNew:0} ms ({encodeNewCpu:0} CPU). Load {Load()}");
        output.WriteLine(line);
        Console.Error.WriteLine(line);
    }

    private static (double Ms, double CpuMs, byte[] Png) Measure(Func<byte[]> run)
    {
        run();
        var best = double.MaxValue;
        var bestCpu = double.MaxValue;
        byte[] png = [];
        for (var i = 0; i < 3; i++)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            png = run();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
            bestCpu = Math.Min(bestCpu, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds);
        }

        return (best, bestCpu, png);
    }

    private static string Load()
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

}
