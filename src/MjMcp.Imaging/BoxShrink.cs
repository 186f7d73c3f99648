using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace MjMcp.Imaging;

/// <summary>
/// A box-filter shrink fed one source row at a time (RGB or RGBA), giving exactly the pixels of
/// <see cref="Pictures.ThumbnailReference"/>: destination pixel (x, y) is the floor of the mean of source box
/// [x*W/w, (x+1)*W/w) x [y*H/h, (y+1)*H/h), every channel on its own (an RGB source is opaque: alpha 255).
/// Used by both preview makers (the server's <see cref="PngThumbnail"/> while it decodes, the sandbox's
/// <see cref="Pictures.Thumbnail"/> from its pixels), so they give the same thumbnail by construction.
/// Cheap in CPU: each source row is added byte-wise into 16-bit column sums with vectors (no per-pixel work), and the
/// boxes are summed across only once per destination row, not once per source row. Hand-written because no served
/// library shrinks from a row stream (see <see cref="PngThumbnail"/>); the arithmetic is integer, so the result is exact.
/// </summary>
internal sealed class BoxShrink
{
    private readonly int _width;
    private readonly int _height;
    private readonly int _channels;
    private readonly int _w;
    private readonly int _h;
    private readonly int[] _columnStart;
    private readonly RgbaImage _result;

    // The fast path: 16-bit column sums (at most 257 rows of 255 in a box) and 32-bit box sums and division.
    private readonly ushort[]? _narrow;

    // Otherwise (shrinking by more than 257 rows a box, or boxes so large a sum passes 32 bits): 64-bit sums.
    private readonly long[]? _wide;
    // Per box, the multiplier that divides its sum by its pixel count (see Divide), for the two row counts boxes have.
    private readonly ulong[][] _magic = new ulong[2][];
    private readonly int[] _magicRows = [0, 0];
    private int _y;
    private int _sourceRow;
    private int _rowsInBox;
    private int _y1;

    public BoxShrink(int width, int height, int channels, int targetWidth, int targetHeight)
    {
        if (channels is not (3 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(channels), "3 (RGB) or 4 (RGBA).");
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(targetWidth, width);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(targetHeight, height);
        _width = width;
        _height = height;
        _channels = channels;
        _w = targetWidth;
        _h = targetHeight;
        _result = new RgbaImage(targetWidth, targetHeight);

        // As targetWidth <= width the boxes are contiguous and partition the row.
        _columnStart = new int[targetWidth + 1];
        var maxColumns = 1;
        for (var x = 0; x < targetWidth; x++)
        {
            var x0 = (int)((long)x * width / targetWidth);
            _columnStart[x] = x0;
            _columnStart[x + 1] = Math.Max(x0 + 1, (int)((long)(x + 1) * width / targetWidth));
            maxColumns = Math.Max(maxColumns, _columnStart[x + 1] - x0);
        }

        var maxRows = 1;
        for (var y = 0; y < targetHeight; y++)
        {
            var y0 = (int)((long)y * height / targetHeight);
            maxRows = Math.Max(maxRows, Math.Max(y0 + 1, (int)((long)(y + 1) * height / targetHeight)) - y0);
        }

        if (maxRows * 255 <= ushort.MaxValue && (long)maxRows * maxColumns * 255 <= uint.MaxValue)
        {
            _narrow = new ushort[width * channels];
        }
        else
        {
            _wide = new long[width * channels];
        }

        _y1 = Math.Max(1, (int)((long)1 * height / targetHeight));
    }

    /// <summary>Whether every destination row has been written (later source rows, if any, add nothing).</summary>
    public bool Done => _y >= _h;

    /// <summary>The thumbnail (complete once every source row has been added).</summary>
    public RgbaImage Result => _result;

    /// <summary>Shrinks a whole RGBA image.</summary>
    public static RgbaImage Shrink(RgbaImage source, int targetWidth, int targetHeight)
    {
        var shrink = new BoxShrink(source.Width, source.Height, 4, targetWidth, targetHeight);
        var stride = source.Width * 4;
        for (var y = 0; y < source.Height && !shrink.Done; y++)
        {
            shrink.AddRow(source.Pixels.AsSpan(y * stride, stride));
        }

        return shrink.Result;
    }

    /// <summary>Adds the next source row (<see cref="_channels"/> bytes a pixel); writes a destination row when its box is complete.</summary>
    public void AddRow(ReadOnlySpan<byte> row)
    {
        var stride = _width * _channels;
        if (row.Length < stride)
        {
            throw new ArgumentException($"A row is {stride} bytes.", nameof(row));
        }

        if (Done || _sourceRow >= _height)
        {
            throw new InvalidOperationException("Every row has been added.");
        }

        row = row[..stride];
        if (_narrow is not null)
        {
            AddNarrow(row, _narrow, first: _rowsInBox == 0);
        }
        else
        {
            var wide = _wide!;
            for (var i = 0; i < row.Length; i++)
            {
                wide[i] += row[i];
            }
        }

        _rowsInBox++;
        _sourceRow++;
        if (_sourceRow == _y1 || _sourceRow == _height)
        {
            var pixels = _result.Pixels.AsSpan(_y * _w * 4, _w * 4);
            if (_narrow is not null)
            {
                if (_channels == 3)
                {
                    EmitNarrowRgb(_narrow, pixels);
                }
                else
                {
                    EmitNarrowRgba(_narrow, pixels);
                }
            }
            else
            {
                EmitWide(_wide!, pixels);
                Array.Clear(_wide!);
            }

            _rowsInBox = 0;
            if (++_y < _h)
            {
                var y0 = (int)((long)_y * _height / _h);
                _y1 = Math.Max(y0 + 1, (int)((long)(_y + 1) * _height / _h));
            }
        }
    }

    /// <summary>sums[i] (+)= row[i] for every byte, 32 (or 16) at a time; the first row of a box replaces the sums.</summary>
    private static void AddNarrow(ReadOnlySpan<byte> row, ushort[] sums, bool first)
    {
        ref var source = ref MemoryMarshal.GetReference(row);
        ref var target = ref MemoryMarshal.GetArrayDataReference(sums);
        // Vector<T>: 8 lanes of int under the JIT with AVX2, 4 in a NativeAOT binary (x86-64-v2), both tested.
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= row.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref source, (nuint)i), out var lower, out var upper);
                if (!first)
                {
                    lower += Vector.LoadUnsafe(ref target, (nuint)i);
                    upper += Vector.LoadUnsafe(ref target, (nuint)(i + Vector<ushort>.Count));
                }

                lower.StoreUnsafe(ref target, (nuint)i);
                upper.StoreUnsafe(ref target, (nuint)(i + Vector<ushort>.Count));
            }
        }

        for (; i < row.Length; i++)
        {
            Unsafe.Add(ref target, i) = (ushort)((first ? 0 : Unsafe.Add(ref target, i)) + Unsafe.Add(ref source, i));
        }
    }

    /// <summary>
    /// The division multipliers for boxes of <paramref name="rows"/> rows: floor(s / n) is the high half of M * s with
    /// M = floor((2^64 - 1) / n) + 1, exact for every 32-bit s and n >= 2 (Lemire, Kaser and Kurz, "Faster remainder
    /// by direct computation", 2019); a multiply instead of a division per channel. M is 0 for n = 1 (handled apart).
    /// Hand-written because the runtime only does this for divisors known when compiling.
    /// </summary>
    private ulong[] Magic(int rows)
    {
        var slot = _magicRows[0] == rows ? 0 : _magicRows[1] == rows ? 1 : -1;
        if (slot >= 0)
        {
            return _magic[slot];
        }

        slot = _magic[0] is null ? 0 : 1;
        var magic = _magic[slot] ?? new ulong[_w];
        for (var x = 0; x < _w; x++)
        {
            var n = (ulong)rows * (ulong)(_columnStart[x + 1] - _columnStart[x]);
            magic[x] = n == 1 ? 0 : (ulong.MaxValue / n) + 1;
        }

        _magic[slot] = magic;
        _magicRows[slot] = rows;
        return magic;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Divide(uint sum, ulong magic) => magic == 0 ? (byte)sum : (byte)Math.BigMul(magic, sum, out _);

    private void EmitNarrowRgb(ushort[] sums, Span<byte> pixels)
    {
        // Indexed through refs: the boxes partition the row (checked in the constructor's arithmetic), so no bounds checks.
        ref var column = ref MemoryMarshal.GetArrayDataReference(sums);
        ref var output = ref MemoryMarshal.GetReference(pixels);
        var starts = _columnStart;
        var magic = Magic(_rowsInBox);
        for (var x = 0; x < _w; x++)
        {
            int s0 = starts[x], s1 = starts[x + 1];
            uint r = 0, g = 0, b = 0;
            for (var s = s0 * 3; s < s1 * 3; s += 3)
            {
                r += Unsafe.Add(ref column, s);
                g += Unsafe.Add(ref column, s + 1);
                b += Unsafe.Add(ref column, s + 2);
            }

            var m = magic[x];
            ref var o = ref Unsafe.Add(ref output, x * 4);
            o = Divide(r, m);
            Unsafe.Add(ref o, 1) = Divide(g, m);
            Unsafe.Add(ref o, 2) = Divide(b, m);
            Unsafe.Add(ref o, 3) = 255; // RGB: opaque, as 255s averaged
        }
    }

    private void EmitNarrowRgba(ushort[] sums, Span<byte> pixels)
    {
        ref var column = ref MemoryMarshal.GetArrayDataReference(sums);
        ref var output = ref MemoryMarshal.GetReference(pixels);
        var starts = _columnStart;
        var magic = Magic(_rowsInBox);
        for (var x = 0; x < _w; x++)
        {
            int s0 = starts[x], s1 = starts[x + 1];
            uint r = 0, g = 0, b = 0, a = 0;
            for (var s = s0 * 4; s < s1 * 4; s += 4)
            {
                r += Unsafe.Add(ref column, s);
                g += Unsafe.Add(ref column, s + 1);
                b += Unsafe.Add(ref column, s + 2);
                a += Unsafe.Add(ref column, s + 3);
            }

            var m = magic[x];
            ref var o = ref Unsafe.Add(ref output, x * 4);
            o = Divide(r, m);
            Unsafe.Add(ref o, 1) = Divide(g, m);
            Unsafe.Add(ref o, 2) = Divide(b, m);
            Unsafe.Add(ref o, 3) = Divide(a, m);
        }
    }

    private void EmitWide(long[] sums, Span<byte> pixels)
    {
        var channels = _channels;
        for (var x = 0; x < _w; x++)
        {
            int s0 = _columnStart[x], s1 = _columnStart[x + 1];
            long r = 0, g = 0, b = 0, a = 0;
            for (var s = s0; s < s1; s++)
            {
                r += sums[s * channels];
                g += sums[(s * channels) + 1];
                b += sums[(s * channels) + 2];
                a += channels == 4 ? sums[(s * channels) + 3] : 0;
            }

            long n = (long)_rowsInBox * (s1 - s0);
            pixels[x * 4] = (byte)(r / n);
            pixels[(x * 4) + 1] = (byte)(g / n);
            pixels[(x * 4) + 2] = (byte)(b / n);
            pixels[(x * 4) + 3] = channels == 4 ? (byte)(a / n) : (byte)255;
        }
    }
}
