using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using MjMcp.Imaging;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>
/// (g) What a light preview costs, stage by stage, at the real size: the with-key server's way (download → PNG decoded
/// and shrunk row by row → badges → JPEG, as PreviewService.Make does) for a sandbox grid (2048², RGB, literal-only
/// deflate: what the provider's PNGs cost to inflate) and an upscale (1024²), against the floor nobody can remove:
/// inflating the PNG's image data alone. Then the sandbox's own preview, made from the pixels it has just rendered.
/// The stages run interleaved in each round; medians and spread of wall and CPU time.
/// </summary>
internal static class Previews
{
    public static void Run(StringBuilder md, int rounds)
    {
        Bench.Log("(g) preview cost, per stage");
        var loadBefore = Machine.Load();
        var gridImage = Pictures.CandidateGrid("a lighthouse at dusk, oil painting", 1234, 1024, 1024);
        var upscaleImage = Pictures.Candidate("a lighthouse at dusk, oil painting", 1234, 1);
        var cases = new[]
        {
            new Case("grid 2048²", gridImage, PngCodec.Encode(gridImage), true),
            new Case("upscale 1024²", upscaleImage, PngCodec.Encode(upscaleImage), false),
        };

        // Each stage of each case, run in turn every round (so the machine's load falls on all alike).
        var stages = new List<(Case Case, string Stage, Action Run)>();
        foreach (var c in cases)
        {
            var idat = Idat(c.Png);
            var thumbnail = PngThumbnail.TryDecode(new MemoryStream(c.Png, false), LightPreview.MaxSide) ?? throw new InvalidOperationException("not shrunk");
            stages.Add((c, "inflate", () => Inflate(idat)));
            stages.Add((c, "decode + shrink", () => PngThumbnail.TryDecode(new MemoryStream(c.Png, false), LightPreview.MaxSide)));
            stages.Add((c, "badges + JPEG", () => LightPreview.FromThumbnail(new RgbaImage(thumbnail.Width, thumbnail.Height, (byte[])thumbnail.Pixels.Clone()), c.Numbered)));
            stages.Add((c, "whole preview", () => c.Preview = LightPreview.FromThumbnail(PngThumbnail.TryDecode(new MemoryStream(c.Png, false), LightPreview.MaxSide)!, c.Numbered)));
            stages.Add((c, "sandbox's own", () => c.Own = LightPreview.Make(c.Image, c.Numbered)));
        }

        var wall = stages.Select(_ => new List<double>()).ToArray();
        var cpu = stages.Select(_ => new List<double>()).ToArray();
        const int WarmUp = 8; // past tiered compilation's 30 calls for the per-row methods
        for (var round = -WarmUp; round < rounds; round++)
        {
            if (round == 0)
            {
                Thread.Sleep(500); // let background recompilation finish
            }

            for (var k = 0; k < stages.Count; k++)
            {
                var (ms, cpuMs) = Time(stages[k].Run);
                if (round >= 0)
                {
                    wall[k].Add(ms);
                    cpu[k].Add(cpuMs);
                }
            }
        }

        foreach (var c in cases)
        {
            // The two makers must agree, or the sandbox's comparison row would mean nothing.
            if (!c.Preview.AsSpan().SequenceEqual(c.Own))
            {
                throw new InvalidOperationException($"{c.Label}: the server's and the sandbox's previews differ");
            }
        }

        md.AppendLine("## g. Preview cost");
        md.AppendLine();
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"The light inline preview (JPEG, at most {LightPreview.MaxSide} px and {LightPreview.MaxBytes / 1024} KB, a grid's quadrants numbered) that mjmcp makes of every finished task's image when it talks to a real provider, stage by stage, in the bench process (Release): **inflate** is the floor (the PNG's image data inflated by the BCL's zlib into a 64 KiB buffer, nothing else); **decode + shrink** is `PngThumbnail.TryDecode` (inflate, unfilter and box-shrink row by row); **badges + JPEG** is `LightPreview.FromThumbnail` of a {LightPreview.MaxSide}² thumbnail; **whole preview** is both (what `PreviewService.Make` does after the download); **sandbox's own** is `LightPreview.Make` from the rendered pixels (what the embedded sandbox does instead, no PNG read). The PNGs are the sandbox's own (RGB, literal-only deflate, as a provider's are costly to inflate). The stages run in turn each round; {WarmUp} warm-up rounds, then {rounds}; median (min–max). CPU is the process's user + system time over the step; a full garbage collection precedes each step (untimed). Both makers' previews are checked to be the same bytes."));
        md.AppendLine();
        var rows = new List<string[]>();
        foreach (var c in cases)
        {
            var floor = Median(cpu[stages.FindIndex(s => s.Case == c && s.Stage == "inflate")]);
            for (var k = 0; k < stages.Count; k++)
            {
                if (stages[k].Case != c)
                {
                    continue;
                }

                rows.Add([
                    $"{c.Label} ({F(c.Png.Length / 1e6, "0.0")} MB PNG)",
                    stages[k].Stage,
                    Spread(wall[k]),
                    Spread(cpu[k]),
                    stages[k].Stage == "inflate" ? "1" : F(Median(cpu[k]) / floor, "0.00") + "×",
                ]);
            }
        }

        Bench.Table(md, ["image", "stage", "wall, ms", "CPU, ms", "CPU ÷ inflate"], rows);
        md.AppendLine(string.Create(CultureInfo.InvariantCulture, $"- Preview sizes: grid {F(cases[0].Preview.Length / 1024.0, "0.0")} KiB, upscale {F(cases[1].Preview.Length / 1024.0, "0.0")} KiB."));
        md.AppendLine($"- {Bench.Load(loadBefore, Machine.Load())}.");
        md.AppendLine();
    }

    /// <summary>
    /// The CPU, in seconds, that inflating one bench workflow's three PNGs costs: imagine's 2048² grid, upscale_1x's
    /// 1024² image and pan's 3072×2048 grid (pan right of the upscale, drawn as the sandbox draws it), encoded as the
    /// sandbox encodes them. A preview made from a provider's PNG must inflate the whole image first (deflate cannot be
    /// skipped through, and a PNG row needs the row above it), so this is the least any inline preview of that workflow
    /// costs with a key; section a sets it beside the SDK's work. Median of 9 rounds after 3 warm-up rounds.
    /// </summary>
    public static double InflateFloorSeconds()
    {
        const string Prompt = "bench workflow 0";
        var grid = Pictures.CandidateGrid(Prompt, 1, 1024, 1024);
        var upscale = Pictures.Candidate(Prompt, 1, 1);
        var (width, height) = Pictures.PanSize(upscale.Width, upscale.Height, MjMcp.Imaging.PanDirection.Right);
        var pan = new RgbaImage(width * 2, height * 2);
        for (var variant = 1; variant <= 4; variant++)
        {
            Pictures.PanInto(pan, ((variant - 1) % 2) * width, ((variant - 1) / 2) * height, upscale, MjMcp.Imaging.PanDirection.Right, Prompt, 1, variant);
        }

        var images = new[] { grid, upscale, pan }.Select(image => Idat(PngCodec.Encode(image))).ToArray();
        var cpu = new List<double>();
        for (var round = -3; round < 9; round++)
        {
            var (_, cpuMs) = Time(() =>
            {
                foreach (var idat in images)
                {
                    Inflate(idat);
                }
            });
            if (round >= 0)
            {
                cpu.Add(cpuMs);
            }
        }

        return Median(cpu) / 1000;
    }

    private static (double Ms, double CpuMs) Time(Action action)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        action();
        var ms = watch.Elapsed.TotalMilliseconds;
        process.Refresh();
        return (ms, (process.TotalProcessorTime - cpu).TotalMilliseconds);
    }

    private static readonly byte[] Sink = new byte[64 << 10];

    private static void Inflate(byte[] zlib)
    {
        using var inflater = new ZLibStream(new MemoryStream(zlib, false), CompressionMode.Decompress);
        while (inflater.Read(Sink) > 0)
        {
        }
    }

    /// <summary>The IDAT payloads of a PNG, joined: its zlib stream.</summary>
    private static byte[] Idat(byte[] png)
    {
        using var data = new MemoryStream();
        for (var at = 8; at + 8 <= png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            if (png.AsSpan(at + 4, 4).SequenceEqual("IDAT"u8))
            {
                data.Write(png, at + 8, length);
            }

            at += length + 12;
        }

        return data.ToArray();
    }

    private sealed class Case(string label, RgbaImage image, byte[] png, bool numbered)
    {
        public string Label => label;

        public RgbaImage Image => image;

        public byte[] Png => png;

        public bool Numbered => numbered;

        public byte[] Preview { get; set; } = [];

        public byte[] Own { get; set; } = [];
    }
}
