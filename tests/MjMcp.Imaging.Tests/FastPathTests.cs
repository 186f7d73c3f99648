using System.Buffers.Binary;
using System.IO.Compression;
using StbImageSharp;

namespace MjMcp.Imaging.Tests;

/// <summary>
/// Issue 11's faster paths give exactly what the old ones gave: the vector PNG writer the same pixels as the baseline
/// writer, the streaming PNG reader the same pixels as StbImageSharp, candidates drawn in place the same pixels as the
/// old per-pixel loop over every shape. Timings and sizes are printed, never asserted (shared, noisy machines).
/// </summary>
public sealed class FastPathTests
{
    [Theory]
    [InlineData(4, 301, 203)]
    [InlineData(3, 301, 203)]
    [InlineData(3, 97, 61)]
    [InlineData(4, 1, 5)]
    [InlineData(3, 5, 1)]
    public void TheStreamingReaderDecodesEveryFilterLikeStbImageSharp(int channels, int width, int height)
    {
        // Every PNG row filter (None, Sub, Up, Average, Paeth in turn), RGB and RGBA, widths that leave vector tails.
        var source = Pictures.Candidate("filters " + width, 5, 2, width, height);
        if (channels == 4)
        {
            source.Pixels[3] = 0;
            source.Pixels[^1] = 77;
        }

        var png = MjMcp.TestSupport.TestPngs.Filtered(source, channels);
        var stb = ImageResult.FromMemory(png, ColorComponents.RedGreenBlueAlpha);
        var ours = PngCodec.Decode(png);
        Assert.Equal((stb.Width, stb.Height), (ours.Width, ours.Height));
        Assert.Equal(stb.Data, ours.Pixels);
        Assert.Equal(source.Pixels, ours.Pixels);

        // Truncated or corrupt data is an InvalidDataException, never another exception or a half image.
        Assert.Throws<InvalidDataException>(() => PngCodec.Decode(png[..(png.Length - 20)]));
        Assert.Throws<InvalidDataException>(() => PngCodec.Decode(png[..(png.Length / 2)]));
        var corrupt = (byte[])png.Clone();
        corrupt[45]++;
        Assert.Throws<InvalidDataException>(() => PngCodec.Decode(corrupt));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheVectorWriterAndTheBaselineWriteTheSamePixels(bool opaque)
    {
        var image = Pictures.Candidate("a blue heron", 3, 1, 333, 129);
        if (!opaque)
        {
            image.Pixels[7] = 10;
        }

        var fast = PngCodec.Encode(image, PngEncoderOptions.Default);
        var baseline = PngCodec.Encode(image, PngEncoderOptions.Baseline);
        Assert.Equal(opaque ? 2 : 6, fast[25]);
        Assert.Equal(fast[25], baseline[25]);
        Assert.Equal(image.Pixels, PngCodec.Decode(fast).Pixels);
        Assert.Equal(image.Pixels, PngCodec.Decode(baseline).Pixels);
        Assert.Equal(image.Pixels, ImageResult.FromMemory(fast, ColorComponents.RedGreenBlueAlpha).Data);

        // The same filters and zlib level on one core: the same bytes (the CRCs too, computed two ways).
        Assert.Equal(baseline, PngCodec.Encode(image, PngEncoderOptions.Default with { Parallel = false, LiteralBlocks = false }));

        // Literal blocks on one core: read alike by StbImageSharp and our reader.
        var single = PngCodec.Encode(image, PngEncoderOptions.Default with { Parallel = false });
        Assert.Equal(image.Pixels, PngCodec.Decode(single).Pixels);
        Assert.Equal(image.Pixels, ImageResult.FromMemory(single, ColorComponents.RedGreenBlueAlpha).Data);

        // In bands (here of a few rows each): one valid zlib stream, read alike by StbImageSharp and our reader.
        var banded = PngCodec.Encode(image, PngEncoderOptions.Default with { ParallelMinRows = 2 });
        Assert.Equal(image.Pixels, PngCodec.Decode(banded).Pixels);
        Assert.Equal(image.Pixels, ImageResult.FromMemory(banded, ColorComponents.RedGreenBlueAlpha).Data);
    }

    [Theory]
    [InlineData("empty")]
    [InlineData("one byte value")]
    [InlineData("random")]
    [InlineData("skewed")]
    [InlineData("blocks and parts")]
    public void LiteralDeflateIsReadByZlib(string kind)
    {
        var random = new Random(3);
        byte[] data = kind switch
        {
            "empty" => [],
            "one byte value" => Enumerable.Repeat((byte)9, 70_000).ToArray(),
            "random" => Enumerable.Range(0, 200_000).Select(_ => (byte)random.Next(256)).ToArray(),

            // Counts growing like Fibonacci numbers: an unlimited Huffman code would need more than 15 bits.
            "skewed" => Enumerable.Range(0, 25).SelectMany(i => Enumerable.Repeat((byte)i, Fibonacci(i + 1))).OrderBy(_ => random.Next()).ToArray(),
            _ => Enumerable.Range(0, 300_000).Select(i => (byte)((i / 1000) + random.Next(3))).ToArray(),
        };

        // Cut into parts written one after the other, each but the last left open (as the PNG bands are), then joined.
        var cuts = kind == "blocks and parts" ? new[] { 0, 1, 65_536, 65_537, 200_000, data.Length } : [0, data.Length];
        using var joined = new MemoryStream();
        for (var i = 0; i + 1 < cuts.Length; i++)
        {
            var deflate = new LiteralDeflate(joined);
            deflate.Write(data.AsSpan(cuts[i], cuts[i + 1] - cuts[i]));
            deflate.Finish(final: i + 2 == cuts.Length);
        }

        joined.Position = 0;
        using var inflate = new DeflateStream(joined, CompressionMode.Decompress);
        using var result = new MemoryStream();
        inflate.CopyTo(result);
        Assert.Equal(data, result.ToArray());
        if (kind == "skewed")
        {
            var counts = new int[257];
            foreach (var b in data)
            {
                counts[b]++;
            }

            var lengths = new byte[257];
            LiteralDeflate.HuffmanLengths(counts, lengths);
            Assert.InRange(lengths.Max(), 1, 15);
        }

        static int Fibonacci(int n) => n < 2 ? 1 : Fibonacci(n - 1) + Fibonacci(n - 2);
    }

    [Fact]
    public void FlatPicturesStaySmall()
    {
        // Literal blocks cannot pack runs; a flat picture goes to zlib and stays tiny (and a noisy one is not larger than zlib's).
        var flat = new RgbaImage(1024, 1024);
        flat.Pixels.AsSpan().Fill(200);
        var png = PngCodec.Encode(flat, PngEncoderOptions.Default);
        Assert.Equal(PngCodec.Encode(flat, PngEncoderOptions.Default with { LiteralBlocks = false }), png);
        Assert.InRange(png.Length, 1, 64 * 1024); // of 3 MiB of pixels
        Assert.Equal(flat.Pixels, PngCodec.Decode(png).Pixels);

        var noisy = Pictures.CandidateGrid("a red fox at dusk", 9, 256, 256);
        var literal = PngCodec.Encode(noisy, PngEncoderOptions.Default);
        Assert.InRange(literal.Length, 1, PngCodec.Encode(noisy, PngEncoderOptions.Default with { LiteralBlocks = false }).Length);
        Assert.Equal(noisy.Pixels, PngCodec.Decode(literal).Pixels);
    }

    [Fact]
    public void Adler32OfTwoPartsCombinesToTheWhole()
    {
        var data = Pictures.Candidate("adler", 1, 1, 300, 100).Pixels;
        foreach (var cut in new[] { 0, 1, 5551, 5552, 5553, 60_000, data.Length })
        {
            var whole = Adler32.Update(1, data);
            Assert.Equal(whole, Adler32.Combine(Adler32.Update(1, data.AsSpan(0, cut)), Adler32.Update(1, data.AsSpan(cut)), data.Length - cut));
        }

        Assert.Equal(0x11E60398u, Adler32.Update(1, "Wikipedia"u8));
    }

    [Fact]
    public void ARegionIsEncodedLikeItsCrop()
    {
        var grid = Pictures.CandidateGrid("a fox", 9, 90, 70);
        for (var index = 1; index <= 4; index++)
        {
            using var region = new MemoryStream();
            PngCodec.Encode(grid, ((index - 1) % 2) * 90, ((index - 1) / 2) * 70, 90, 70, region, PngEncoderOptions.Default);
            Assert.Equal(Pictures.Quadrant(grid, index).Pixels, PngCodec.Decode(region.ToArray()).Pixels);
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => PngCodec.Encode(grid, 100, 0, 90, 70, Stream.Null, PngEncoderOptions.Default));
    }

    [Theory]
    [InlineData("a red fox at dusk", 42, 96, 64)]
    [InlineData("sea", 7, 64, 200)]
    [InlineData("x", 1, 1, 1)]
    [InlineData("lighthouse night gold", 123456789, 257, 131)]
    [InlineData("white snow glacier", 99, 331, 97)] // bright: channels clamp at 255; 331 leaves a tail after blocks of 8
    [InlineData("black midnight dark", 5, 200, 90)] // dark: channels clamp at 0
    [InlineData("a fox", -3, 9, 40)] // one block of 8 and one pixel
    [InlineData("a fox", 11, 7, 40)] // narrower than a block: one by one
    public void CandidatesDrawnInPlaceAreThePixelsOfTheOldLoop(string prompt, long seed, int width, int height)
    {
        for (var variant = 1; variant <= 4; variant++)
        {
            Assert.Equal(OldCandidate(prompt, seed, variant, width, height).Pixels, Pictures.Candidate(prompt, seed, variant, width, height).Pixels);
        }

        var parts = Enumerable.Range(1, 4).Select(v => Pictures.Candidate(prompt, seed, v, width, height)).ToArray();
        Assert.Equal(Pictures.Grid(parts[0], parts[1], parts[2], parts[3]).Pixels, Pictures.CandidateGrid(prompt, seed, width, height).Pixels);
    }

    [Fact]
    public void TheVectorNoiseIsTheScalarNoise()
    {
        // h mod 7 without a division, against the % operator: edges and a spread of hashes.
        if (!CandidateRows.Accelerated)
        {
            return;
        }

        var values = new List<uint> { 0, 1, 6, 7, 8, 13, 14, 0x3FFFFFFF, 0x40000000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF8, 0xFFFFFFF9, 0xFFFFFFFE, uint.MaxValue };
        var random = new Random(11);
        for (var i = 0; i < 100_000; i++)
        {
            values.Add((uint)random.NextInt64(0, 1L << 32));
        }

        var lanes = System.Numerics.Vector<uint>.Count;
        while (values.Count % lanes != 0)
        {
            values.Add(uint.MaxValue - (uint)values.Count);
        }

        var all = values.ToArray();
        for (var i = 0; i < all.Length; i += lanes)
        {
            var folded = CandidateRows.Mod7(new System.Numerics.Vector<uint>(all.AsSpan(i, lanes)));
            for (var lane = 0; lane < lanes; lane++)
            {
                Assert.Equal(all[i + lane] % 7, folded[lane]);
            }
        }
    }

    [Fact]
    public void AFullSizeGridIsThePixelsOfTheOldLoop()
    {
        // The sandbox's real size: 1024-px candidates drawn in place into a 2048² grid.
        var parts = Enumerable.Range(1, 4).Select(v => OldCandidate("a lighthouse at dusk, oil painting", 1234, v, 1024, 1024)).ToArray();
        Assert.Equal(Pictures.Grid(parts[0], parts[1], parts[2], parts[3]).Pixels, Pictures.CandidateGrid("a lighthouse at dusk, oil painting", 1234, 1024, 1024).Pixels);
    }

    [Fact]
    public void APanDrawnIntoAGridIsThePan()
    {
        var source = Pictures.Candidate("a harbour", 3, 1, 64, 48);
        foreach (var direction in Enum.GetValues<PanDirection>())
        {
            var pan = Pictures.Pan(source, direction, "a harbour", 5, 2);
            var (w, h) = Pictures.PanSize(source.Width, source.Height, direction);
            Assert.Equal((w, h), (pan.Width, pan.Height));
            var grid = new RgbaImage(w * 2, h * 2);
            Pictures.PanInto(grid, w, h, source, direction, "a harbour", 5, 2);
            Assert.Equal(pan.Pixels, Pictures.Quadrant(grid, 4).Pixels);
        }
    }

    /// <summary>Pictures.Candidate before issue 11, verbatim but for names: every shape tested at every pixel.</summary>
    internal static RgbaImage OldCandidate(string prompt, long seed, int variant, int width, int height)
    {
        var image = new RgbaImage(width, height);
        var (shapes, top, bottom, side, grain) = Pictures.CandidateSetup(prompt, seed, variant, width, height);
        var pixels = image.Pixels;
        Parallel.For(0, height, y =>
        {
            var t = height == 1 ? 0f : (float)y / (height - 1);
            var row = y * width * 4;
            for (var x = 0; x < width; x++)
            {
                var s = width == 1 ? 0f : 0.35f * x / (width - 1);
                var r = Pictures.Lerp(Pictures.Lerp(top.R, bottom.R, t), side.R, s);
                var g = Pictures.Lerp(Pictures.Lerp(top.G, bottom.G, t), side.G, s);
                var b = Pictures.Lerp(Pictures.Lerp(top.B, bottom.B, t), side.B, s);
                foreach (var shape in shapes)
                {
                    var dx = x - shape.X;
                    var dy = y - shape.Y;
                    var d2 = ((dx * dx) + (dy * dy)) / shape.R2;
                    if (d2 < 1f)
                    {
                        var a = (1f - d2) * (1f - d2) * 0.85f;
                        r = Pictures.Lerp(r, shape.Cr, a);
                        g = Pictures.Lerp(g, shape.Cg, a);
                        b = Pictures.Lerp(b, shape.Cb, a);
                    }
                }

                var noise = (int)(Pictures.Mix((uint)x, (uint)y, grain) % 7) - 3;
                var i = row + (x * 4);
                pixels[i] = Pictures.Clamp(r + noise);
                pixels[i + 1] = Pictures.Clamp(g + noise);
                pixels[i + 2] = Pictures.Clamp(b + noise);
                pixels[i + 3] = 255;
            }
        });
        return image;
    }
}
