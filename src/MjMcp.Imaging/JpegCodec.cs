using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using JpegLibrary;

namespace MjMcp.Imaging;

/// <summary>
/// Baseline JPEG encoding with JpegLibrary (pure C#, MIT): 4:4:4 or 4:2:0, standard tables scaled by quality, optimised Huffman
/// codes. For light previews, where a PNG of a picture is 10–30 times larger (measured: a 512² preview of a sandbox grid
/// is 471 KB as PNG, 16 KB as JPEG at quality 90). Alpha is ignored (previews are opaque). Decode with
/// <see cref="PngCodec.Decode(byte[])"/> (StbImageSharp reads JPEG too).
/// JpegLibrary is the fastest served encoder measured here (a numbered 512² grid at quality 90, 4:4:4, CPU per encode:
/// JpegLibrary 5.7 ms, SkiaSharp 3.119's libjpeg-turbo 7.6 ms through SKPixmap.Encode, BitMiracle.LibJpeg.NET 90 ms),
/// and it is pure IL (no native library to ship beside the NativeAOT binary).
/// </summary>
public static class JpegCodec
{
    /// <summary>Encodes <paramref name="image"/> at <paramref name="quality"/> (1–100), 4:4:4 (every pixel's colour kept).</summary>
    public static byte[] Encode(RgbaImage image, int quality) => Encode(image, quality, subsampleChroma: false);

    /// <summary>
    /// Encodes <paramref name="image"/> at <paramref name="quality"/> (1–100); with <paramref name="subsampleChroma"/>,
    /// 4:2:0 (colour at half resolution each way, as cameras and the web do): half the blocks to transform and code, so
    /// about half the CPU, and smaller files; the brightness, where edges and text show, keeps every pixel.
    /// </summary>
    public static byte[] Encode(RgbaImage image, int quality, bool subsampleChroma)
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
        var luma = subsampleChroma ? (byte)2 : (byte)1;
        encoder.AddComponent(0, 0, 0, 0, luma, luma); // Y
        encoder.AddComponent(1, 1, 1, 1, 1, 1); // Cb
        encoder.AddComponent(2, 1, 1, 1, 1, 1); // Cr
        encoder.SetInputReader(new RgbaReader(image));
        var output = new ArrayBufferWriter<byte>(Math.Max(4096, image.Width * image.Height / 4));
        encoder.SetOutput(output);
        encoder.Encode();
        return output.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Feeds 8x8 blocks of Y, Cb or Cr (JFIF, BT.601 full range) to the encoder; edge blocks repeat the last row and
    /// column. The three planes are converted once, up front, with vectors where the machine has them (the encoder asks
    /// for each block once per component: converting per block would convert every pixel three times).
    /// </summary>
    private sealed class RgbaReader : JpegBlockInputReader
    {
        private readonly int _width;
        private readonly int _height;
        private readonly int _paddedWidth;
        private readonly short[] _planes;
        private readonly int _planeSize;

        public RgbaReader(RgbaImage image)
        {
            _width = image.Width;
            _height = image.Height;
            // Padded to whole 16x16 units (a 4:2:0 unit: four luma blocks, one block of each colour).
            _paddedWidth = (_width + 15) & ~15;
            var paddedHeight = (_height + 15) & ~15;
            _planeSize = _paddedWidth * paddedHeight;
            _planes = new short[3 * _planeSize];
            var y = _planes.AsSpan(0, _planeSize);
            var cb = _planes.AsSpan(_planeSize, _planeSize);
            var cr = _planes.AsSpan(2 * _planeSize, _planeSize);
            for (var row = 0; row < _height; row++)
            {
                var at = row * _paddedWidth;
                ToYCbCr(image.Pixels.AsSpan(row * _width * 4, _width * 4), y.Slice(at, _width), cb.Slice(at, _width), cr.Slice(at, _width));
                for (var x = _width; x < _paddedWidth; x++)
                {
                    y[at + x] = y[at + _width - 1];
                    cb[at + x] = cb[at + _width - 1];
                    cr[at + x] = cr[at + _width - 1];
                }
            }

            var last = (_height - 1) * _paddedWidth;
            for (var row = _height; row < paddedHeight; row++)
            {
                y.Slice(last, _paddedWidth).CopyTo(y[(row * _paddedWidth)..]);
                cb.Slice(last, _paddedWidth).CopyTo(cb[(row * _paddedWidth)..]);
                cr.Slice(last, _paddedWidth).CopyTo(cr[(row * _paddedWidth)..]);
            }
        }

        public override int Width => _width;

        public override int Height => _height;

        public override void ReadBlock(ref short blockRef, int componentIndex, int x, int y)
        {
            // The planes are padded to whole blocks, so a block is eight rows of eight values, copied as they are.
            ref var plane = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_planes), (componentIndex * _planeSize) + (y * _paddedWidth) + x);
            for (var row = 0; row < 8; row++)
            {
                Unsafe.CopyBlockUnaligned(
                    ref Unsafe.As<short, byte>(ref Unsafe.Add(ref blockRef, row * 8)),
                    ref Unsafe.As<short, byte>(ref Unsafe.Add(ref plane, row * _paddedWidth)),
                    8 * sizeof(short));
            }
        }

        /// <summary>
        /// One row of RGBA to Y, Cb and Cr in fixed-point (16-bit) BT.601: integer maths only, so the bytes are the same
        /// on every machine, and the vector and scalar loops agree exactly (each value lies in 0–255 without clamping:
        /// the weights of each row sum to 65536 or 0).
        /// </summary>
        internal static void ToYCbCr(ReadOnlySpan<byte> rgba, Span<short> y, Span<short> cb, Span<short> cr)
        {
            // Vector<T>: 8 lanes of int under the JIT with AVX2, 4 in a NativeAOT binary (x86-64-v2), both tested; two
            // vectors of pixels give one vector of 16-bit values.
            var pixels = MemoryMarshal.Cast<byte, int>(rgba);
            var i = 0;
            if (Vector.IsHardwareAccelerated && BitConverter.IsLittleEndian)
            {
                for (; i <= pixels.Length - (2 * Vector<int>.Count); i += 2 * Vector<int>.Count)
                {
                    var (y0, cb0, cr0) = Convert(new Vector<int>(pixels[i..]));
                    var (y1, cb1, cr1) = Convert(new Vector<int>(pixels[(i + Vector<int>.Count)..]));
                    Vector.Narrow(y0, y1).CopyTo(y[i..]);
                    Vector.Narrow(cb0, cb1).CopyTo(cb[i..]);
                    Vector.Narrow(cr0, cr1).CopyTo(cr[i..]);
                }
            }

            for (; i < y.Length; i++)
            {
                int r = rgba[i * 4], g = rgba[(i * 4) + 1], b = rgba[(i * 4) + 2];
                y[i] = (short)(((19595 * r) + (38470 * g) + (7471 * b) + 32768) >> 16);
                cb[i] = (short)(((-11059 * r) - (21709 * g) + (32768 * b) + (128 << 16) + 32767) >> 16);
                cr[i] = (short)(((32768 * r) - (27439 * g) - (5329 * b) + (128 << 16) + 32767) >> 16);
            }
        }

        private static (Vector<int> Y, Vector<int> Cb, Vector<int> Cr) Convert(Vector<int> rgba)
        {
            var mask = new Vector<int>(0xFF);
            var r = rgba & mask;
            var g = Vector.ShiftRightLogical(rgba, 8) & mask;
            var b = Vector.ShiftRightLogical(rgba, 16) & mask;
            var offset = new Vector<int>((128 << 16) + 32767);
            return (
                Vector.ShiftRightArithmetic((r * 19595) + (g * 38470) + (b * 7471) + new Vector<int>(32768), 16),
                Vector.ShiftRightArithmetic((b * 32768) - (r * 11059) - (g * 21709) + offset, 16),
                Vector.ShiftRightArithmetic((r * 32768) - (g * 27439) - (b * 5329) + offset, 16));
        }
    }
}
