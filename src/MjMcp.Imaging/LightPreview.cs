namespace MjMcp.Imaging;

/// <summary>
/// The light inline preview of an image: a JPEG of at most <see cref="MaxSide"/> px on the long side and at most
/// <see cref="MaxBytes"/> bytes; a grid's preview numbers its quadrants 1–4 so a model can pick an index by looking.
/// One definition for both makers: the MCP server (from a downloaded PNG) and the sandbox (from the pixels it has just
/// rendered), so both give the same bytes for the same picture.
/// </summary>
public static class LightPreview
{
    /// <summary>The long side of a preview, at most.</summary>
    public const int MaxSide = 512;

    /// <summary>The size of a preview, at most (about 80 K characters of base64).</summary>
    public const int MaxBytes = 60 * 1024;

    /// <summary>Qualities tried in turn until the preview fits <see cref="MaxBytes"/> (a 512² sandbox grid is ~16 KB at 90).</summary>
    private static readonly int[] Qualities = [90, 80, 70, 55, 40, 25];

    /// <summary>The preview of <paramref name="image"/>: shrunk within <see cref="MaxSide"/> (box filter), quadrants numbered when <paramref name="numbered"/>.</summary>
    public static byte[] Make(RgbaImage image, bool numbered)
    {
        ArgumentNullException.ThrowIfNull(image);
        return FromThumbnail(Pictures.Thumbnail(image, MaxSide), numbered);
    }

    /// <summary>
    /// The preview from an image already within <see cref="MaxSide"/> (drawn on: pass one the caller owns). JPEG (4:2:0:
    /// half the encoding work of 4:4:4, and the digits are brightness edges, kept at full resolution) at the highest of a
    /// few qualities that fits <see cref="MaxBytes"/>.
    /// </summary>
    public static byte[] FromThumbnail(RgbaImage thumbnail, bool numbered)
    {
        ArgumentNullException.ThrowIfNull(thumbnail);
        if (Math.Max(thumbnail.Width, thumbnail.Height) > MaxSide)
        {
            throw new ArgumentException($"The thumbnail is {thumbnail.Width}x{thumbnail.Height}; at most {MaxSide} px a side.", nameof(thumbnail));
        }

        if (numbered)
        {
            QuadrantBadges.Draw(thumbnail);
        }

        byte[] jpeg = [];
        foreach (var quality in Qualities)
        {
            jpeg = JpegCodec.Encode(thumbnail, quality, subsampleChroma: true);
            if (jpeg.Length <= MaxBytes)
            {
                break;
            }
        }

        return jpeg.Length <= MaxBytes ? jpeg : throw new InvalidDataException($"The preview is {jpeg.Length} bytes even at the lowest quality.");
    }
}
