namespace MjMcp.Imaging.Tests;

/// <summary>Real pictures: sizes, geometry, masks, determinism (by decoded pixels, never PNG bytes).</summary>
public sealed class PicturesTests
{
    private static RgbaImage Small(string prompt = "a red fox", int variant = 1, int w = 96, int h = 64) => Pictures.Candidate(prompt, 42, variant, w, h);

    private static RgbaImage Solid(int w, int h, byte r, byte g, byte b)
    {
        var image = new RgbaImage(w, h);
        for (var i = 0; i < image.Pixels.Length; i += 4)
        {
            (image.Pixels[i], image.Pixels[i + 1], image.Pixels[i + 2], image.Pixels[i + 3]) = (r, g, b, 255);
        }

        return image;
    }

    private static bool SameRegion(RgbaImage big, int left, int top, RgbaImage small)
    {
        for (var y = 0; y < small.Height; y++)
        {
            var a = big.Pixels.AsSpan((((top + y) * big.Width) + left) * 4, small.Width * 4);
            var b = small.Pixels.AsSpan(y * small.Width * 4, small.Width * 4);
            if (!a.SequenceEqual(b))
            {
                return false;
            }
        }

        return true;
    }

    [Fact]
    public void PngRoundTripKeepsEveryPixel()
    {
        var image = Small();
        var png = PngCodec.Encode(image);
        Assert.Equal([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], png[..8]);
        Assert.Equal((96, 64), PngCodec.ReadSize(png));
        var decoded = PngCodec.Decode(png);
        Assert.Equal(image.Pixels, decoded.Pixels);
        Assert.Throws<InvalidDataException>(() => PngCodec.Decode("definitely not an image"u8));
        Assert.Throws<InvalidDataException>(() => PngCodec.ReadSize("nope"u8));
    }

    [Fact]
    public void OpaqueImagesAreWrittenAsRgbAndTransparentOnesKeepTheirAlphaInValidChunks()
    {
        // 700x500 of a real picture: its compressed data spans several 64 KiB IDAT chunks.
        var opaque = Pictures.Candidate("a lighthouse at dusk", 7, 2, 700, 500);
        var png = PngCodec.Encode(opaque);
        Assert.Equal(2, png[25]); // IHDR colour type: RGB
        Assert.True(Chunks(png).Count(c => c == "IDAT") >= 2, "several IDAT chunks");
        Assert.Equal(["IHDR", "IDAT", "IEND"], Chunks(png).Distinct());
        Assert.Equal(opaque.Pixels, PngCodec.Decode(png).Pixels);

        var clear = Small();
        clear.Pixels[3] = 0;
        clear.Pixels[(40 * 4) + 3] = 128;
        var withAlpha = PngCodec.Encode(clear);
        Assert.Equal(6, withAlpha[25]); // RGBA
        Assert.Equal(clear.Pixels, PngCodec.Decode(withAlpha).Pixels);

        using var file = new TempFile();
        File.WriteAllBytes(file.Path, png);
        Assert.Equal(opaque.Pixels, PngCodec.DecodeFile(file.Path).Pixels);
    }

    /// <summary>The chunk types in order; every chunk's CRC is checked on the way.</summary>
    private static List<string> Chunks(byte[] png)
    {
        var types = new List<string>();
        for (var at = 8; at < png.Length;)
        {
            var length = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            types.Add(System.Text.Encoding.ASCII.GetString(png, at + 4, 4));
            var crc = Crc32(png.AsSpan(at + 4, length + 4));
            Assert.Equal(crc, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(at + 8 + length)));
            at += 12 + length;
        }

        return types;
    }

    /// <summary>CRC-32 bit by bit (independent of the codec's table).</summary>
    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFFu;
    }

    private sealed class TempFile : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mjmcp-png-" + Guid.NewGuid().ToString("N") + ".png");

        public void Dispose() => File.Delete(Path);
    }

    [Fact]
    public void EveryOperationHasTheRightSize()
    {
        var a = Pictures.Candidate("grid", 1, 1, 128, 128);
        var grid = Pictures.Grid(a, Pictures.Candidate("grid", 1, 2, 128, 128), Pictures.Candidate("grid", 1, 3, 128, 128), Pictures.Candidate("grid", 1, 4, 128, 128));
        Assert.Equal((256, 256), (grid.Width, grid.Height));
        Assert.Equal((128, 128), Size(Pictures.Quadrant(grid, 4)));
        Assert.Equal((256, 256), Size(Pictures.UpscaleAlt(a, creative: false, 1)));
        Assert.Equal((256, 256), Size(Pictures.UpscaleHighres(a, 2)));
        Assert.Equal((512, 512), Size(Pictures.UpscaleHighres(a, 4)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pictures.UpscaleHighres(a, 3));
        Assert.Equal((192, 128), Size(Pictures.Pan(a, PanDirection.Left, "p", 1, 1)));
        Assert.Equal((192, 128), Size(Pictures.Pan(a, PanDirection.Right, "p", 1, 1)));
        Assert.Equal((128, 192), Size(Pictures.Pan(a, PanDirection.Up, "p", 1, 1)));
        Assert.Equal((128, 192), Size(Pictures.Pan(a, PanDirection.Down, "p", 1, 1)));
        Assert.Equal((128, 128), Size(Pictures.ZoomOut(a, 1.5, "z", 1, 1)));
        Assert.Equal((96, 96), Size(Pictures.ZoomOut(Small(), 1, "z", 1, 1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Pictures.ZoomOut(a, 2.5, "z", 1, 1));
        Assert.Equal((768, 1024), Size(Pictures.Blend([a, Small()], BlendDimension.Portrait, 1, 1)));
        Assert.Equal((1024, 768), Size(Pictures.Blend([a, Small()], BlendDimension.Landscape, 1, 1)));
        Assert.Equal((128, 128), Size(Pictures.FaceSwap(a, Small())));
        Assert.Equal((64, 43), Size(Pictures.Thumbnail(Small(), 64)));
    }

    [Fact]
    public void PanKeepsTheOriginalPixelsAndExtendsTheNamedSide()
    {
        var source = Small();
        Assert.True(SameRegion(Pictures.Pan(source, PanDirection.Left, "p", 7, 2), 48, 0, source));
        Assert.True(SameRegion(Pictures.Pan(source, PanDirection.Right, "p", 7, 2), 0, 0, source));
        Assert.True(SameRegion(Pictures.Pan(source, PanDirection.Up, "p", 7, 2), 0, 32, source));
        Assert.True(SameRegion(Pictures.Pan(source, PanDirection.Down, "p", 7, 2), 0, 0, source));
    }

    [Fact]
    public void ZoomOutCentresTheScaledSource()
    {
        var source = Pictures.Candidate("zoom", 3, 1, 120, 120);
        var zoomed = Pictures.ZoomOut(source, 2, "zoom", 3, 1);
        Assert.True(SameRegion(zoomed, 30, 30, Pictures.Resize(source, 60, 60)));
        var wide = Small();
        var square = Pictures.ZoomOut(wide, 1, "zoom", 3, 1);
        Assert.True(SameRegion(square, 0, 16, wide));
    }

    [Fact]
    public void InpaintChangesOnlyTheMaskedRegion()
    {
        var source = Pictures.Candidate("room", 5, 1, 64, 64);
        var mask = new RgbaImage(32, 32);
        for (var y = 8; y < 16; y++)
        {
            for (var x = 8; x < 16; x++)
            {
                var i = ((y * 32) + x) * 4;
                mask.Pixels[i] = mask.Pixels[i + 1] = mask.Pixels[i + 2] = mask.Pixels[i + 3] = 255;
            }
        }

        var result = Pictures.Inpaint(source, mask, "a window", 5, 1);
        for (var y = 0; y < 64; y++)
        {
            for (var x = 0; x < 64; x++)
            {
                var inside = x is >= 16 and < 32 && y is >= 16 and < 32;
                var i = ((y * 64) + x) * 4;
                var same = source.Pixels.AsSpan(i, 4).SequenceEqual(result.Pixels.AsSpan(i, 4));
                Assert.True(inside ? !same : same, $"pixel {x},{y} inside={inside} same={same}");
            }
        }

        Assert.Throws<ArgumentException>(() => Pictures.Inpaint(source, new RgbaImage(8, 8), "x", 1, 1));
    }

    [Fact]
    public void PicturesAreDeterministicAndDistinct()
    {
        Assert.Equal(Pictures.PixelHash(Small()), Pictures.PixelHash(Small()));
        Assert.NotEqual(Pictures.PixelHash(Small("a red fox")), Pictures.PixelHash(Small("a blue whale")));
        Assert.NotEqual(Pictures.PixelHash(Pictures.Candidate("x", 1, 1, 64, 64)), Pictures.PixelHash(Pictures.Candidate("x", 2, 1, 64, 64)));
        var variants = Enumerable.Range(1, 4).Select(v => Small(variant: v)).ToArray();
        Assert.Equal(4, variants.Select(Pictures.PixelHash).Distinct().Count());
        var grid = Pictures.Grid(variants[0], variants[1], variants[2], variants[3]);
        for (var i = 1; i <= 4; i++)
        {
            Assert.Equal(Pictures.PixelHash(variants[i - 1]), Pictures.PixelHash(Pictures.Quadrant(grid, i)));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => Pictures.Quadrant(grid, 0));
        Assert.NotEqual(Pictures.PixelHash(Pictures.UpscaleAlt(variants[0], false, 1)), Pictures.PixelHash(Pictures.UpscaleAlt(variants[0], true, 1)));
        Assert.Equal(Pictures.PixelHash(Pictures.Blend(variants, BlendDimension.Square, 9, 2)), Pictures.PixelHash(Pictures.Blend(variants, BlendDimension.Square, 9, 2)));
    }

    [Fact]
    public void DescribeReadsColourAndBrightness()
    {
        var dark = Pictures.Describe(Solid(64, 32, 10, 10, 14));
        Assert.Equal(4, dark.Distinct().Count());
        Assert.All(dark, p => Assert.False(string.IsNullOrWhiteSpace(p)));
        Assert.Contains(dark, p => p.Contains("dark", StringComparison.Ordinal));
        Assert.All(dark, p => Assert.EndsWith("--ar 2:1", p, StringComparison.Ordinal));
        Assert.Contains(Pictures.Describe(Solid(32, 32, 210, 35, 40)), p => p.Contains("red", StringComparison.Ordinal));
    }

    [Fact]
    public void BlendTakesTwoToFiveImages()
    {
        var a = Small();
        Assert.NotNull(Pictures.Blend([a, a], BlendDimension.Square, 1, 1));
        Assert.NotNull(Pictures.Blend([a, a, a, a, a], BlendDimension.Square, 1, 1));
        Assert.Throws<ArgumentException>(() => Pictures.Blend([a], BlendDimension.Square, 1, 1));
        Assert.Throws<ArgumentException>(() => Pictures.Blend([a, a, a, a, a, a], BlendDimension.Square, 1, 1));
    }

    private static (int, int) Size(RgbaImage image) => (image.Width, image.Height);
}
