using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MjMcp.Imaging;

/// <summary>PNG row filter types.</summary>
internal enum PngFilterType : byte
{
    None = 0,
    Sub = 1,
    Up = 2,
    Average = 3,
    Paeth = 4,
}

/// <summary>
/// Row work shared by the PNG writer and readers: filtering, unfiltering, RGB packing and expanding, and the chunk
/// CRC-32. Hand-written on purpose: these are a few loops over spans (System.Numerics vectors where they pay), and the
/// served System.IO.Hashing would add a dependency to the packed server for one CRC (the BCL exposes none).
/// </summary>
internal static class PngRows
{
    private static readonly uint[] CrcTables = MakeCrcTables();

    /// <summary>Whether every pixel of an RGBA span has alpha 255.</summary>
    public static bool IsOpaque(ReadOnlySpan<byte> rgba)
    {
        var words = MemoryMarshal.Cast<byte, uint>(rgba);
        var alpha = BitConverter.IsLittleEndian ? 0xFF000000u : 0x000000FFu;
        var i = 0;
        if (Vector.IsHardwareAccelerated && words.Length >= Vector<uint>.Count)
        {
            var mask = new Vector<uint>(alpha);
            var all = mask;
            for (; i <= words.Length - Vector<uint>.Count; i += Vector<uint>.Count)
            {
                all &= new Vector<uint>(words[i..]);
            }

            if ((all & mask) != mask)
            {
                return false;
            }
        }

        for (; i < words.Length; i++)
        {
            if ((words[i] & alpha) != alpha)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The baseline's alpha check, byte by byte.</summary>
    public static bool IsOpaqueScalar(ReadOnlySpan<byte> rgba)
    {
        for (var i = 3; i < rgba.Length; i += 4)
        {
            if (rgba[i] != 255)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>destination = current - above, byte-wise (wrapping): the Up filter in RGBA.</summary>
    public static void Subtract(ReadOnlySpan<byte> current, ReadOnlySpan<byte> above, Span<byte> destination)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i <= current.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                (new Vector<byte>(current[i..]) - new Vector<byte>(above[i..])).CopyTo(destination[i..]);
            }
        }

        for (; i < current.Length; i++)
        {
            destination[i] = (byte)(current[i] - above[i]);
        }
    }

    /// <summary>destination = row - (the pixel to the left), RGBA: the Sub filter in RGBA (the first pixel is kept).</summary>
    public static void SubtractLeft(ReadOnlySpan<byte> row, Span<byte> destination)
    {
        var count = Math.Min(4, row.Length);
        row[..count].CopyTo(destination);
        if (row.Length > 4)
        {
            Subtract(row[4..], row[..^4], destination[4..]);
        }
    }

    /// <summary>
    /// RGBA to RGB: drops every fourth byte. <paramref name="rgb"/> needs 16 bytes to spare past its 3/4 of the input
    /// (the vector loop writes 16 bytes per 12 it keeps).
    /// </summary>
    public static void PackRgb(ReadOnlySpan<byte> rgba, Span<byte> rgb)
    {
        int i = 0, o = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var keep = Vector128.Create((byte)0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, 255, 255, 255, 255);
            for (; i <= rgba.Length - 16 && o + 16 <= rgb.Length; i += 16, o += 12)
            {
                Vector128.Shuffle(Vector128.Create(rgba.Slice(i, 16)), keep).CopyTo(rgb[o..]);
            }
        }

        for (; i + 3 < rgba.Length; i += 4, o += 3)
        {
            rgb[o] = rgba[i];
            rgb[o + 1] = rgba[i + 1];
            rgb[o + 2] = rgba[i + 2];
        }
    }

    /// <summary>
    /// RGB to RGBA with alpha 255. <paramref name="rgb"/> needs 4 bytes to spare past its pixels (the vector loop reads 16
    /// bytes per 12 it uses).
    /// </summary>
    public static void ExpandRgb(ReadOnlySpan<byte> rgb, int pixels, Span<byte> rgba)
    {
        int i = 0, o = 0, p = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            var spread = Vector128.Create((byte)0, 1, 2, 255, 3, 4, 5, 255, 6, 7, 8, 255, 9, 10, 11, 255);
            var opaque = Vector128.Create(0xFF000000u).AsByte();
            if (!BitConverter.IsLittleEndian)
            {
                opaque = Vector128.Create(0x000000FFu).AsByte();
            }

            for (; p + 4 <= pixels && i + 16 <= rgb.Length; p += 4, i += 12, o += 16)
            {
                (Vector128.Shuffle(Vector128.Create(rgb.Slice(i, 16)), spread) | opaque).CopyTo(rgba[o..]);
            }
        }

        for (; p < pixels; p++, i += 3, o += 4)
        {
            rgba[o] = rgb[i];
            rgba[o + 1] = rgb[i + 1];
            rgba[o + 2] = rgb[i + 2];
            rgba[o + 3] = 255;
        }
    }

    /// <summary>Undoes a row's filter in place; <paramref name="above"/> is the previous unfiltered row (zeros for the first).</summary>
    public static void Unfilter(int filter, Span<byte> row, ReadOnlySpan<byte> above, int bpp)
    {
        switch ((PngFilterType)filter)
        {
            case PngFilterType.None:
                break;
            case PngFilterType.Sub:
                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += row[i - bpp];
                }

                break;
            case PngFilterType.Up:
                var v = 0;
                if (Vector.IsHardwareAccelerated)
                {
                    for (; v <= row.Length - Vector<byte>.Count; v += Vector<byte>.Count)
                    {
                        (new Vector<byte>(row[v..]) + new Vector<byte>(above[v..])).CopyTo(row[v..]);
                    }
                }

                for (; v < row.Length; v++)
                {
                    row[v] += above[v];
                }

                break;
            case PngFilterType.Average:
                for (var i = 0; i < row.Length; i++)
                {
                    var left = i >= bpp ? row[i - bpp] : 0;
                    row[i] += (byte)((left + above[i]) >> 1);
                }

                break;
            case PngFilterType.Paeth:
                for (var i = 0; i < row.Length; i++)
                {
                    int a = i >= bpp ? row[i - bpp] : 0, b = above[i], c = i >= bpp ? above[i - bpp] : 0;
                    int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }

                break;
            default:
                throw new InvalidDataException($"Unknown PNG row filter {filter}.");
        }
    }

    /// <summary>Continues a CRC-32 (start with 0xFFFFFFFF, finish with ^ 0xFFFFFFFF), eight bytes per step (slicing-by-8).</summary>
    public static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        var t = CrcTables;
        while (data.Length >= 8)
        {
            var one = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ crc;
            var two = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            crc = t[(7 * 256) + (one & 0xFF)] ^ t[(6 * 256) + ((one >> 8) & 0xFF)] ^ t[(5 * 256) + ((one >> 16) & 0xFF)] ^ t[(4 * 256) + (one >> 24)]
                ^ t[(3 * 256) + (two & 0xFF)] ^ t[(2 * 256) + ((two >> 8) & 0xFF)] ^ t[256 + ((two >> 16) & 0xFF)] ^ t[two >> 24];
            data = data[8..];
        }

        return CrcBytewise(crc, data);
    }

    /// <summary>The baseline's CRC-32, one byte per step.</summary>
    public static uint CrcBytewise(uint crc, ReadOnlySpan<byte> data)
    {
        var t = CrcTables;
        foreach (var b in data)
        {
            crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] MakeCrcTables()
    {
        var table = new uint[8 * 256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        for (var n = 0; n < 256; n++)
        {
            for (var k = 1; k < 8; k++)
            {
                var previous = table[((k - 1) * 256) + n];
                table[(k * 256) + n] = (previous >> 8) ^ table[previous & 0xFF];
            }
        }

        return table;
    }
}
