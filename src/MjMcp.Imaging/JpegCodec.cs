using System.Buffers;
using System.Runtime.CompilerServices;
using JpegLibrary;

namespace MjMcp.Imaging;

/// <summary>
/// Baseline JPEG encoding with JpegLibrary (pure C#, MIT): 4:4:4, standard tables scaled by quality, optimised Huffman
/// codes. For light previews, where a PNG of a picture is 10–30 times larger (measured: a 512² preview of a sandbox grid
/// is 471 KB as PNG, 16 KB as JPEG at quality 90). Alpha is ignored (previews are opaque). Decode with
/// <see cref="PngCodec.Decode(byte[])"/> (StbImageSharp reads JPEG too).
/// </summary>
public static class JpegCodec
{
    /// <summary>Encodes <paramref name="image"/> at <paramref name="quality"/> (1–100).</summary>
    public static byte[] Encode(RgbaImage image, int quality)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentOutOfRangeException.ThrowIfLessThan(quality, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(quality, 100);
        if (image.Width > ushort.MaxValue || image.Height > ushort.MaxValue)
        {
            throw new ArgumentException($"A JPEG is at most {ushort.MaxValue} px a side.", nameof(image));
        }

        var encoder = new JpegEncoder();
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetLuminanceTable(JpegElementPrecision.Precision8Bit, 0), quality));
        encoder.SetQuantizationTable(JpegStandardQuantizationTable.ScaleByQuality(JpegStandardQuantizationTable.GetChrominanceTable(JpegElementPrecision.Precision8Bit, 1), quality));

        // No table given: the encoder builds optimal Huffman tables from the image (a second pass, ~10% smaller files).
        encoder.SetHuffmanTable(true, 0);
        encoder.SetHuffmanTable(false, 0);
        encoder.SetHuffmanTable(true, 1);
        encoder.SetHuffmanTable(false, 1);
        encoder.AddComponent(0, 0, 0, 0, 1, 1); // Y
        encoder.AddComponent(1, 1, 1, 1, 1, 1); // Cb
        encoder.AddComponent(2, 1, 1, 1, 1, 1); // Cr
        encoder.SetInputReader(new RgbaReader(image));
        var output = new ArrayBufferWriter<byte>(Math.Max(4096, image.Width * image.Height / 4));
        encoder.SetOutput(output);
        encoder.Encode();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Feeds 8x8 blocks of Y, Cb or Cr (JFIF, BT.601 full range) to the encoder; edge blocks repeat the last row and column.</summary>
    private sealed class RgbaReader(RgbaImage image) : JpegBlockInputReader
    {
        public override int Width => image.Width;

        public override int Height => image.Height;

        public override void ReadBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            var pixels = image.Pixels;
            for (var row = 0; row < 8; row++)
            {
                var sy = Math.Min(y + row, image.Height - 1);
                for (var col = 0; col < 8; col++)
                {
                    var sx = Math.Min(x + col, image.Width - 1);
                    var i = ((sy * image.Width) + sx) * 4;
                    int r = pixels[i], g = pixels[i + 1], b = pixels[i + 2];

                    // Fixed-point (16-bit) BT.601: integer maths only, so the bytes are the same on every machine.
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
