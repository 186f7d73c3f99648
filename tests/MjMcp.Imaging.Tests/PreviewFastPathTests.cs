using System.Buffers;
using System.Runtime.CompilerServices;
using JpegLibrary;

namespace MjMcp.Imaging.Tests;

/// <summary>
/// Issue 11's cheaper previews give exactly what the reference paths give: the shared box shrink (fed PNG rows while
/// decoding, or an image's rows) the pixels of the pixel-by-pixel <see cref="Pictures.ThumbnailReference"/>, and the
/// JPEG encoder with its colour planes converted once the bytes of a per-block, per-pixel conversion.
/// </summary>
public sealed class PreviewFastPathTests
{
    private static readonly Lazy<RgbaImage> Grid = new(() =>
    {
        var parts = Enumerable.Range(1, 4).Select(i => Pictures.Candidate("a lighthouse at dusk, stormy sea", 7, i)).ToArray();
        return Pictures.Grid(parts[0], parts[1], parts[2], parts[3]);
    });

    [Theory]
    [InlineData(3, 2048, 2048, 512)] // the grid (4x4 boxes)
    [InlineData(3, 1024, 1024, 512)] // an upscale (2x2 boxes)
    [InlineData(4, 2048, 2048, 512)]
    [InlineData(4, 301, 203, 100)] // uneven boxes, vector tails
    [InlineData(3, 301, 203, 100)]
    [InlineData(3, 97, 1000, 64)]
    [InlineData(4, 1000, 97, 63)]
    [InlineData(3, 1000, 600, 3)] // more than 257 rows a box: the 64-bit path
    [InlineData(4, 600, 1000, 2)]
    [InlineData(4, 33, 17, 32)]
    public void ShrinkingWhileDecodingEqualsTheReferenceForEveryFilter(int channels, int width, int height, int maxSide)
    {
        // Every PNG row filter (None, Sub, Up, Average, Paeth in turn), RGB and RGBA, translucent pixels in RGBA.
        var source = width == 2048 ? Grid.Value : Pictures.Candidate("shrink " + width, 3, 2, width, height);
        if (channels == 4)
        {
            source = Translucent(source);
        }

        var png = MjMcp.TestSupport.TestPngs.Filtered(source, channels);
        var expected = Pictures.ThumbnailReference(PngCodec.Decode(png), maxSide);
        var shrunk = PngThumbnail.TryDecode(png, maxSide);
        Assert.NotNull(shrunk);
        Assert.Equal((expected.Width, expected.Height), (shrunk.Width, shrunk.Height));
        Assert.Equal(expected.Pixels, shrunk.Pixels);
    }

    [Fact]
    public void TheSandboxsOwnPngOfAGridShrinksToTheReference()
    {
        // What the with-key preview reads from the sandbox: its own encoder's output (RGB, Sub then Up, literal deflate).
        var png = PngCodec.Encode(Grid.Value);
        Assert.Equal(Pictures.ThumbnailReference(Grid.Value, 512).Pixels, PngThumbnail.TryDecode(png, 512)!.Pixels);
    }

    [Theory]
    [InlineData(2048, 2048, 512)]
    [InlineData(1456, 816, 512)]
    [InlineData(301, 203, 100)]
    [InlineData(97, 1000, 64)]
    [InlineData(1000, 600, 3)]
    [InlineData(9, 9, 1)]
    public void ThumbnailEqualsTheReference(int width, int height, int maxSide)
    {
        var random = new Random(width + height);
        var pixels = new byte[width * height * 4];
        random.NextBytes(pixels); // noise in every channel, alpha included: each channel's box average is its own
        var image = new RgbaImage(width, height, pixels);
        var expected = Pictures.ThumbnailReference(image, maxSide);
        var fast = Pictures.Thumbnail(image, maxSide);
        Assert.Equal((expected.Width, expected.Height), (fast.Width, fast.Height));
        Assert.Equal(expected.Pixels, fast.Pixels);
    }

    [Theory]
    [InlineData(512, 512, 90, false)]
    [InlineData(512, 512, 90, true)] // the light preview's 4:2:0
    [InlineData(512, 287, 80, true)]
    [InlineData(13, 7, 90, false)] // padded blocks on both edges, a row shorter than a vector
    [InlineData(13, 7, 90, true)]
    [InlineData(1, 1, 50, true)]
    [InlineData(100, 37, 25, false)]
    [InlineData(17, 33, 70, true)] // one past a 16-px unit each way
    public void TheJpegEqualsAPerPixelConversionsBytes(int width, int height, int quality, bool subsample)
    {
        var random = new Random(width * height);
        var pixels = new byte[width * height * 4];
        random.NextBytes(pixels); // every colour, so each of Y, Cb and Cr meets its extremes
        pixels[0] = pixels[1] = pixels[2] = 255;
        pixels[^4] = pixels[^3] = pixels[^2] = 0;
        var image = new RgbaImage(width, height, pixels);
        Assert.Equal(ReferenceJpeg(image, quality, subsample), JpegCodec.Encode(image, quality, subsample));

        var picture = Pictures.Thumbnail(Grid.Value, Math.Max(width, height));
        Assert.Equal(ReferenceJpeg(picture, quality, subsample), JpegCodec.Encode(picture, quality, subsample));
        if (!subsample)
        {
            Assert.Equal(ReferenceJpeg(picture, quality, false), JpegCodec.Encode(picture, quality));
        }
    }

    [Fact]
    public void BothMakersGiveTheSameLightPreview()
    {
        // The sandbox (from its pixels) and the server (from the PNG it downloads) give the same bytes for the same picture.
        var png = PngCodec.Encode(Grid.Value);
        var fromPixels = LightPreview.Make(Grid.Value, numbered: true);
        var fromPng = LightPreview.FromThumbnail(PngThumbnail.TryDecode(png, LightPreview.MaxSide)!, numbered: true);
        Assert.Equal(fromPixels, fromPng);
        Assert.True(fromPixels.Length <= LightPreview.MaxBytes);
    }

    private static RgbaImage Translucent(RgbaImage source)
    {
        var pixels = (byte[])source.Pixels.Clone();
        for (var i = 3; i < pixels.Length; i += 4)
        {
            pixels[i] = (byte)((i * 7) ^ pixels[i - 1]);
        }

        return new RgbaImage(source.Width, source.Height, pixels);
    }

    /// <summary>The encoding JpegCodec had before: the same settings, each block converted pixel by pixel as asked for.</summary>
    private static byte[] ReferenceJpeg(RgbaImage image, int quality, bool subsample)
    {
        var encoder = new JpegEncoder();
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetLuminanceTable(JpegElementPrecision.Precision8Bit, 0), quality));
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetChrominanceTable(JpegElementPrecision.Precision8Bit, 1), quality));
        encoder.SetHuffmanTable(true, 0);
        encoder.SetHuffmanTable(false, 0);
        encoder.SetHuffmanTable(true, 1);
        encoder.SetHuffmanTable(false, 1);
        encoder.AddComponent(0, 0, 0, 0, subsample ? (byte)2 : (byte)1, subsample ? (byte)2 : (byte)1);
        encoder.AddComponent(1, 1, 1, 1, 1, 1);
        encoder.AddComponent(2, 1, 1, 1, 1, 1);
        encoder.SetInputReader(new PerPixelReader(image));
        var output = new ArrayBufferWriter<byte>();
        encoder.SetOutput(output);
        encoder.Encode();
        return output.WrittenSpan.ToArray();
    }

    private sealed class PerPixelReader(RgbaImage image) : JpegBlockInputReader
    {
        public override int Width => image.Width;

        public override int Height => image.Height;

        public override void ReadBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            for (var row = 0; row < 8; row++)
            {
                var sy = Math.Min(y + row, image.Height - 1);
                for (var col = 0; col < 8; col++)
                {
                    var i = ((sy * image.Width) + Math.Min(x + col, image.Width - 1)) * 4;
                    int r = image.Pixels[i], g = image.Pixels[i + 1], b = image.Pixels[i + 2];
                    var value = componentIndex switch
                    {
                        0 => ((19595 * r) + (38470 * g) + (7471 * b) + 32768) >> 16,
                        1 => ((-11059 * r) - (21709 * g) + (32768 * b) + (128 << 16) + 32767) >> 16,
                        _ => ((32768 * r) - (27439 * g) - (5329 * b) + (128 << 16) + 32767) >> 16,
                    };
                    Unsafe.Add(ref blockRef, (row * 8) + col) = (short)Math.Clamp(value, 0, 255);
                }
            }
        }
    }
}
