using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

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
    /// <summary>
    /// The thumbnail (within <paramref name="maxSide"/>) of a PNG larger than that, or null when this PNG is not one this
    /// reader covers or needs no shrinking. Throws <see cref="InvalidDataException"/> for broken data.
    /// </summary>
    public static RgbaImage? TryDecode(ReadOnlySpan<byte> png, int maxSide)
    {
        using var stream = new MemoryStream(png.ToArray(), writable: false);
        return TryDecode(stream, maxSide);
    }

    /// <summary>
    /// The thumbnail of the PNG read from <paramref name="png"/> (from its current position; the compressed data is read
    /// chunk by chunk as it is inflated, never held whole), or null as for the span overload.
    /// </summary>
    public static RgbaImage? TryDecode(Stream png, int maxSide)
    {
        ArgumentNullException.ThrowIfNull(png);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        using var reader = PngReader.TryOpen(png);
        if (reader is null)
        {
            return null;
        }

        var scale = (double)maxSide / Math.Max(reader.Width, reader.Height);
        return scale >= 1 ? null : Shrink(reader, scale);
    }

    private static RgbaImage Shrink(PngReader rows, double scale)
    {
        int width = rows.Width, height = rows.Height, channels = rows.Channels;
        // The same boxes as Pictures.Thumbnail: destination x covers source [x*W/w, (x+1)*W/w); as w <= W these are
        // contiguous, so a row is summed box by box in registers (no per-pixel lookup or branch), then added once per box.
        var w = Math.Max(1, (int)Math.Round(width * scale));
        var h = Math.Max(1, (int)Math.Round(height * scale));
        var columnStart = new int[w + 1];
        for (var x = 0; x < w; x++)
        {
            var x0 = (int)((long)x * width / w);
            columnStart[x] = x0;
            columnStart[x + 1] = Math.Max(x0 + 1, (int)((long)(x + 1) * width / w));
        }

        var result = new RgbaImage(w, h);
        var sums = new long[w * 3];
        var alphas = channels == 4 ? new long[w] : null;
        var y = 0;
        var y1 = Math.Max(1, (int)((long)1 * height / h));
        var rowsInBox = 0;
        for (var sy = 0; sy < height; sy++)
        {
            var current = rows.ReadRow();
            if (alphas is null)
            {
                AddRgbRow(current, columnStart, sums);
            }
            else
            {
                AddRgbaRow(current, columnStart, sums, alphas);
            }

            rowsInBox++;
            if (sy + 1 == y1 || sy + 1 == height)
            {
                var pixels = result.Pixels.AsSpan(y * w * 4, w * 4);
                for (var x = 0; x < w; x++)
                {
                    long n = (long)rowsInBox * (columnStart[x + 1] - columnStart[x]);
                    pixels[x * 4] = (byte)(sums[x * 3] / n);
                    pixels[(x * 4) + 1] = (byte)(sums[(x * 3) + 1] / n);
                    pixels[(x * 4) + 2] = (byte)(sums[(x * 3) + 2] / n);
                    pixels[(x * 4) + 3] = alphas is null ? (byte)255 : (byte)(alphas[x] / n); // RGB: opaque, as 255s averaged
                }

                Array.Clear(sums);
                if (alphas is not null)
                {
                    Array.Clear(alphas);
                }

                rowsInBox = 0;
                if (++y >= h)
                {
                    rows.Finish();
                    break;
                }

                var y0 = (int)((long)y * height / h);
                y1 = Math.Max(y0 + 1, (int)((long)(y + 1) * height / h));
            }
        }

        return result;
    }

    /// <summary>Adds each box's red, green and blue sums of one RGB row to <paramref name="sums"/> (3 per box).</summary>
    private static void AddRgbRow(ReadOnlySpan<byte> row, int[] columnStart, long[] sums)
    {
        // Indexed through a ref: the boxes partition the row (checked once here), so the inner loop needs no bounds checks.
        var boxes = columnStart.Length - 1;
        if (columnStart[boxes] * 3 > row.Length || sums.Length < boxes * 3)
        {
            throw new ArgumentException("The boxes do not fit the row.", nameof(columnStart));
        }

        ref var pixels = ref MemoryMarshal.GetReference(row);
        for (var x = 0; x < boxes; x++)
        {
            // A row's box sum fits an int: at most RgbaImage.MaxSide pixels of 255.
            int r = 0, g = 0, b = 0;
            var end = columnStart[x + 1] * 3;
            for (var s = columnStart[x] * 3; s < end; s += 3)
            {
                r += Unsafe.Add(ref pixels, s);
                g += Unsafe.Add(ref pixels, s + 1);
                b += Unsafe.Add(ref pixels, s + 2);
            }

            sums[x * 3] += r;
            sums[(x * 3) + 1] += g;
            sums[(x * 3) + 2] += b;
        }
    }

    /// <summary>As <see cref="AddRgbRow"/> for an RGBA row, the alpha sums into <paramref name="alphas"/>.</summary>
    private static void AddRgbaRow(ReadOnlySpan<byte> row, int[] columnStart, long[] sums, long[] alphas)
    {
        var boxes = columnStart.Length - 1;
        if (columnStart[boxes] * 4 > row.Length || sums.Length < boxes * 3 || alphas.Length < boxes)
        {
            throw new ArgumentException("The boxes do not fit the row.", nameof(columnStart));
        }

        ref var pixels = ref MemoryMarshal.GetReference(row);
        for (var x = 0; x < boxes; x++)
        {
            int r = 0, g = 0, b = 0, a = 0;
            var end = columnStart[x + 1] * 4;
            for (var s = columnStart[x] * 4; s < end; s += 4)
            {
                r += Unsafe.Add(ref pixels, s);
                g += Unsafe.Add(ref pixels, s + 1);
                b += Unsafe.Add(ref pixels, s + 2);
                a += Unsafe.Add(ref pixels, s + 3);
            }

            sums[x * 3] += r;
            sums[(x * 3) + 1] += g;
            sums[(x * 3) + 2] += b;
            alphas[x] += a;
        }
    }
}
