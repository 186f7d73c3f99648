namespace MjMcp.Imaging;

/// <summary>Where a quadrant's number badge sits in an image, in pixels; the digit is drawn at (DigitX, DigitY), each glyph cell Scale px.</summary>
/// <param name="X">Left edge of the badge.</param>
/// <param name="Y">Top edge of the badge.</param>
/// <param name="Width">Badge width.</param>
/// <param name="Height">Badge height.</param>
/// <param name="DigitX">Left edge of the digit.</param>
/// <param name="DigitY">Top edge of the digit.</param>
/// <param name="Scale">Pixels per glyph cell.</param>
public readonly record struct BadgeLayout(int X, int Y, int Width, int Height, int DigitX, int DigitY, int Scale);

/// <summary>
/// Numbers the quadrants of a grid picture 1–4 (1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right): a large white
/// digit on a dark rounded badge in each quadrant's top-left corner, so a model can pick an index by looking.
/// Hand-written on purpose: four digits from a 5x7 pixel font need no font engine (no served library draws text without
/// shipping a font, see shared/reference/images.md), and blocky cells stay legible after thumbnailing and JPEG.
/// </summary>
public static class QuadrantBadges
{
    /// <summary>Glyph width in cells.</summary>
    public const int GlyphWidth = 5;

    /// <summary>Glyph height in cells.</summary>
    public const int GlyphHeight = 7;

    /// <summary>The badge colour (near black); the digit is white.</summary>
    public static readonly (byte R, byte G, byte B) BadgeColor = (18, 18, 24);

    private static readonly string[][] Glyphs =
    [
        ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        ["####.", "....#", "....#", ".###.", "....#", "....#", "####."],
        ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    ];

    /// <summary>Whether cell (<paramref name="column"/>, <paramref name="row"/>) of <paramref name="digit"/> (1–4) is lit.</summary>
    public static bool Cell(int digit, int column, int row)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digit, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digit, 4);
        return column is >= 0 and < GlyphWidth && row is >= 0 and < GlyphHeight && Glyphs[digit - 1][row][column] == '#';
    }

    /// <summary>Where the badge of quadrant <paramref name="index"/> (1–4) goes in a <paramref name="width"/> x <paramref name="height"/> grid.</summary>
    public static BadgeLayout Layout(int width, int height, int index)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 4);
        int qw = width / 2, qh = height / 2;
        var scale = Math.Max(2, Math.Min(qw, qh) / 36);
        var pad = scale * 2;
        var margin = scale;
        var x = ((index - 1) % 2 * qw) + margin;
        var y = ((index - 1) / 2 * qh) + margin;
        return new BadgeLayout(x, y, (GlyphWidth * scale) + (2 * pad), (GlyphHeight * scale) + (2 * pad), x + pad, y + pad, scale);
    }

    /// <summary>Draws the four badges onto <paramref name="grid"/> in place.</summary>
    public static void Draw(RgbaImage grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        for (var index = 1; index <= 4; index++)
        {
            var badge = Layout(grid.Width, grid.Height, index);
            var radius = badge.Scale * 2;
            for (var y = 0; y < badge.Height; y++)
            {
                for (var x = 0; x < badge.Width; x++)
                {
                    if (!InsideRounded(x, y, badge.Width, badge.Height, radius))
                    {
                        continue;
                    }

                    int px = badge.X + x, py = badge.Y + y;
                    if (px >= grid.Width || py >= grid.Height)
                    {
                        continue;
                    }

                    var lit = Cell(index, Floor(px - badge.DigitX, badge.Scale), Floor(py - badge.DigitY, badge.Scale));
                    var i = ((py * grid.Width) + px) * 4;
                    grid.Pixels[i] = lit ? (byte)255 : BadgeColor.R;
                    grid.Pixels[i + 1] = lit ? (byte)255 : BadgeColor.G;
                    grid.Pixels[i + 2] = lit ? (byte)255 : BadgeColor.B;
                    grid.Pixels[i + 3] = 255;
                }
            }
        }
    }

    private static int Floor(int value, int divisor) => value < 0 ? -1 : value / divisor;

    private static bool InsideRounded(int x, int y, int width, int height, int radius)
    {
        // Distance from the nearest corner circle's centre, only inside the corner squares.
        var dx = x < radius ? radius - x : x >= width - radius ? x - (width - radius - 1) : 0;
        var dy = y < radius ? radius - y : y >= height - radius ? y - (height - radius - 1) : 0;
        return (dx * dx) + (dy * dy) <= radius * radius;
    }
}
