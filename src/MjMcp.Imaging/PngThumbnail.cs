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
        var y = 0;
        var y1 = Math.Max(1, (int)((long)1 * height / h));
        var rowsInBox = 0;
        for (var sy = 0; sy < height; sy++)
        {
            var current = rows.ReadRow();
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
                    rows.Finish();
                    break;
                }

                var y0 = (int)((long)y * height / h);
                y1 = Math.Max(y0 + 1, (int)((long)(y + 1) * height / h));
            }
        }

        return result;
    }
}
