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

    /// <summary>As the span overload, read in place (a grid's PNG is megabytes: no copy).</summary>
    public static RgbaImage? TryDecode(byte[] png, int maxSide)
    {
        ArgumentNullException.ThrowIfNull(png);
        using var stream = new MemoryStream(png, writable: false);
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
        // The same boxes and sizes as Pictures.Thumbnail (BoxShrink is shared by both).
        var shrink = new BoxShrink(rows.Width, rows.Height, rows.Channels, Math.Max(1, (int)Math.Round(rows.Width * scale)), Math.Max(1, (int)Math.Round(rows.Height * scale)));
        for (var y = 0; y < rows.Height && !shrink.Done; y++)
        {
            shrink.AddRow(rows.ReadRow());
        }

        rows.Finish();
        return shrink.Result;
    }
}
