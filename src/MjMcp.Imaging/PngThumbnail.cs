using System.Buffers.Binary;
using System.IO.Compression;

namespace MjMcp.Imaging;

/// <summary>
/// Decodes a PNG straight into a thumbnail: rows are inflated (the BCL's native zlib), unfiltered and box-averaged one
/// at a time, so the full-size image is never held (a 2048² grid is 16 MiB of RGBA; a 4096² upscale 64 MiB).
/// The pixels equal <see cref="Pictures.Thumbnail"/> of the full decode exactly. Hand-written because no served
/// decoder shrinks a PNG while decoding (StbImageSharp decodes only at full size; SkiaSharp scales JPEG and WebP only).
/// Covers what providers serve: 8-bit RGB or RGBA, not interlaced; anything else returns null (decode it in full).
/// </summary>
public static class PngThumbnail
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>
    /// The thumbnail (within <paramref name="maxSide"/>) of a PNG larger than that, or null when this PNG is not one this
    /// reader covers or needs no shrinking. Throws <see cref="InvalidDataException"/> for broken data.
    /// </summary>
    public static RgbaImage? TryDecode(ReadOnlySpan<byte> png, int maxSide)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        if (png.Length < 33 || !png[..8].SequenceEqual(Signature) || !png.Slice(12, 4).SequenceEqual("IHDR"u8))
        {
            return null;
        }

        var width = BinaryPrimitives.ReadInt32BigEndian(png[16..]);
        var height = BinaryPrimitives.ReadInt32BigEndian(png[20..]);
        int depth = png[24], color = png[25], interlace = png[28];
        if (depth != 8 || color is not (2 or 6) || interlace != 0 || width < 1 || height < 1 || width > RgbaImage.MaxSide || height > RgbaImage.MaxSide)
        {
            return null;
        }

        var scale = (double)maxSide / Math.Max(width, height);
        if (scale >= 1)
        {
            return null;
        }

        using var compressed = new MemoryStream();
        var offset = 8;
        while (offset + 12 <= png.Length)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png[offset..]);
            if (length < 0 || offset + 12L + length > png.Length)
            {
                throw new InvalidDataException("The PNG is truncated.");
            }

            var type = png.Slice(offset + 4, 4);
            if (type.SequenceEqual("IDAT"u8))
            {
                compressed.Write(png.Slice(offset + 8, length));
            }
            else if (type.SequenceEqual("IEND"u8))
            {
                break;
            }

            offset += 12 + length;
        }

        compressed.Position = 0;
        using var inflater = new ZLibStream(compressed, CompressionMode.Decompress);
        return Shrink(inflater, width, height, color == 6 ? 4 : 3, scale);
    }

    private static RgbaImage Shrink(Stream rows, int width, int height, int channels, double scale)
    {
        // The same boxes as Pictures.Thumbnail: destination x covers source [x*W/w, (x+1)*W/w).
        var w = Math.Max(1, (int)Math.Round(width * scale));
        var h = Math.Max(1, (int)Math.Round(height * scale));
        var columnOf = new int[width];
        var columnCount = new int[w];
        for (var x = 0; x < w; x++)
        {
            var x0 = (int)((long)x * width / w);
            var x1 = Math.Max(x0 + 1, (int)((long)(x + 1) * width / w));
            columnCount[x] = x1 - x0;
            for (var sx = x0; sx < x1; sx++)
            {
                columnOf[sx] = x;
            }
        }

        var result = new RgbaImage(w, h);
        var sums = new long[w * 4];
        var stride = width * channels;
        var current = new byte[stride];
        var previous = new byte[stride];
        var y = 0;
        var y1 = Math.Max(1, (int)((long)1 * height / h));
        var rowsInBox = 0;
        for (var sy = 0; sy < height; sy++)
        {
            var filter = rows.ReadByte();
            if (filter < 0)
            {
                throw new InvalidDataException("The PNG's image data ends early.");
            }

            rows.ReadExactly(current);
            Unfilter(filter, current, previous, channels);
            for (var sx = 0; sx < width; sx++)
            {
                var s = sx * channels;
                var d = columnOf[sx] * 4;
                sums[d] += current[s];
                sums[d + 1] += current[s + 1];
                sums[d + 2] += current[s + 2];
                sums[d + 3] += channels == 4 ? current[s + 3] : 255;
            }

            rowsInBox++;
            if (sy + 1 == y1 || sy + 1 == height)
            {
                for (var x = 0; x < w; x++)
                {
                    long n = (long)rowsInBox * columnCount[x];
                    var o = ((y * w) + x) * 4;
                    for (var c = 0; c < 4; c++)
                    {
                        result.Pixels[o + c] = (byte)(sums[(x * 4) + c] / n);
                    }
                }

                Array.Clear(sums);
                rowsInBox = 0;
                if (++y >= h)
                {
                    break;
                }

                var y0 = (int)((long)y * height / h);
                y1 = Math.Max(y0 + 1, (int)((long)(y + 1) * height / h));
            }

            (previous, current) = (current, previous);
        }

        return result;
    }

    private static void Unfilter(int filter, byte[] row, byte[] above, int bpp)
    {
        switch (filter)
        {
            case 0:
                break;
            case 1: // Sub
                for (var i = bpp; i < row.Length; i++)
                {
                    row[i] += row[i - bpp];
                }

                break;
            case 2: // Up
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] += above[i];
                }

                break;
            case 3: // Average
                for (var i = 0; i < row.Length; i++)
                {
                    var left = i >= bpp ? row[i - bpp] : 0;
                    row[i] += (byte)((left + above[i]) >> 1);
                }

                break;
            case 4: // Paeth
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
}
