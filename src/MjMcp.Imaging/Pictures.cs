using System.Globalization;

namespace MjMcp.Imaging;

/// <summary>Which side a pan extends.</summary>
public enum PanDirection
{
    /// <summary>Extend the top.</summary>
    Up,

    /// <summary>Extend the bottom.</summary>
    Down,

    /// <summary>Extend the left side.</summary>
    Left,

    /// <summary>Extend the right side.</summary>
    Right,
}

/// <summary>The shape of a blend.</summary>
public enum BlendDimension
{
    /// <summary>1024x1024.</summary>
    Square,

    /// <summary>768x1024.</summary>
    Portrait,

    /// <summary>1024x768.</summary>
    Landscape,
}

/// <summary>
/// Deterministic pictures for the sandbox: candidates rendered from (prompt, seed, variant), grids, crops,
/// Catmull-Rom resampling, pan, zoom-out, inpaint, blend, face paste and describe statistics. Only + − × ÷ √
/// and integer hashing are used, so pixels are bit-identical on every machine and runtime (see images.md).
/// Rows render in parallel; each pixel depends only on its coordinates, so the thread count never matters.
/// </summary>
public static class Pictures
{
    private static readonly (string Word, byte R, byte G, byte B)[] Keywords =
    [
        ("red", 200, 40, 45), ("crimson", 170, 20, 50), ("blue", 40, 80, 200), ("azure", 60, 140, 230), ("green", 50, 160, 70),
        ("forest", 30, 100, 45), ("gold", 230, 185, 50), ("yellow", 240, 215, 60), ("orange", 240, 130, 40), ("sunset", 245, 110, 60),
        ("dusk", 120, 70, 130), ("purple", 130, 60, 180), ("violet", 150, 90, 210), ("pink", 235, 120, 175), ("night", 18, 22, 55),
        ("dark", 25, 25, 35), ("midnight", 15, 18, 45), ("snow", 235, 238, 245), ("white", 240, 240, 240), ("black", 14, 14, 16),
        ("sea", 25, 110, 160), ("ocean", 20, 90, 150), ("sky", 125, 175, 235), ("fire", 235, 85, 25), ("desert", 215, 175, 120),
        ("fox", 210, 100, 40), ("heron", 150, 165, 185), ("glacier", 180, 215, 235), ("lighthouse", 225, 60, 50), ("harbour", 60, 90, 120),
    ];

    private static readonly (string Name, byte R, byte G, byte B)[] ColorNames =
    [
        ("red", 200, 40, 45), ("orange", 240, 130, 40), ("gold", 225, 185, 60), ("yellow", 240, 220, 70), ("green", 60, 160, 70),
        ("teal", 30, 140, 140), ("blue", 45, 85, 200), ("navy", 20, 30, 90), ("purple", 130, 60, 180), ("pink", 235, 125, 175),
        ("brown", 120, 75, 40), ("white", 240, 240, 240), ("grey", 128, 128, 128), ("black", 15, 15, 18), ("sky blue", 130, 180, 235),
    ];

    /// <summary>A picture from (prompt, seed, variant 1..4): a soft gradient and shapes, tinted by the prompt's colour words.</summary>
    public static RgbaImage Candidate(string prompt, long seed, int variant, int width = 1024, int height = 1024)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var image = new RgbaImage(width, height);
        CandidateInto(image, 0, 0, prompt, seed, variant, width, height);
        return image;
    }

    /// <summary>
    /// Renders <see cref="Candidate"/> (the same pixels) into the rectangle of <paramref name="target"/> at
    /// (<paramref name="left"/>, <paramref name="top"/>): a grid is drawn in place, with no candidate image made first.
    /// </summary>
    public static void CandidateInto(RgbaImage target, int left, int top, string prompt, long seed, int variant, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(prompt);
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > target.Width || top + height > target.Height)
        {
            throw new ArgumentOutOfRangeException(nameof(left), "The rectangle lies outside the image.");
        }

        var (shapes, topColor, bottom, side, grain) = CandidateSetup(prompt, seed, variant, width, height);
        var shapeCount = shapes.Length;
        var pixels = target.Pixels;
        var targetWidth = target.Width;
        Parallel.For(0, height, () => new (int Shape, int From, int To)[shapeCount], (y, _, active) =>
        {
            var t = height == 1 ? 0f : (float)y / (height - 1);
            var row = (((top + y) * targetWidth) + left) * 4;

            // The shapes that can touch this row, each with the columns it may cover: a shape changes a pixel only
            // where d2 < 1, and the bounds (with a margin far beyond float rounding) skip only pixels where d2 >= 1,
            // so every pixel is exactly what testing every shape everywhere gives.
            var count = 0;
            for (var k = 0; k < shapes.Length; k++)
            {
                var dy = y - shapes[k].Y;
                var reach = (shapes[k].R2 * 1.001f) + 1f - (dy * dy);
                if (reach > 0)
                {
                    var half = MathF.Sqrt(reach) + 2f;
                    active[count++] = (k, Math.Max(0, (int)(shapes[k].X - half)), Math.Min(width - 1, (int)(shapes[k].X + half) + 1));
                }
            }

            var baseR = Lerp(topColor.R, bottom.R, t);
            var baseG = Lerp(topColor.G, bottom.G, t);
            var baseB = Lerp(topColor.B, bottom.B, t);

            // Eight pixels at a time where the machine has the vectors (the same pixels); the rest below, one by one.
            var first = CandidateRows.Draw(pixels.AsSpan(row), y, width, (baseR, baseG, baseB), side, shapes, active.AsSpan(0, count), grain);
            for (var x = first; x < width; x++)
            {
                var s = width == 1 ? 0f : 0.35f * x / (width - 1);
                var r = Lerp(baseR, side.R, s);
                var g = Lerp(baseG, side.G, s);
                var b = Lerp(baseB, side.B, s);
                for (var a = 0; a < count; a++)
                {
                    var (k, from, to) = active[a];
                    if (x < from || x > to)
                    {
                        continue;
                    }

                    var shape = shapes[k];
                    var dx = x - shape.X;
                    var dy = y - shape.Y;
                    var d2 = ((dx * dx) + (dy * dy)) / shape.R2;
                    if (d2 < 1f)
                    {
                        var alpha = (1f - d2) * (1f - d2) * 0.85f;
                        r = Lerp(r, shape.Cr, alpha);
                        g = Lerp(g, shape.Cg, alpha);
                        b = Lerp(b, shape.Cb, alpha);
                    }
                }

                var noise = (int)(Mix((uint)x, (uint)y, grain) % 7) - 3;
                var i = row + (x * 4);
                pixels[i] = Clamp(r + noise);
                pixels[i + 1] = Clamp(g + noise);
                pixels[i + 2] = Clamp(b + noise);
                pixels[i + 3] = 255;
            }

            return active;
        }, _ => { });
    }

    /// <summary>What a candidate is drawn from: its shapes (centre, squared radius, colour), gradient colours and noise salt.</summary>
    internal static ((float X, float Y, float R2, float Cr, float Cg, float Cb)[] Shapes, (byte R, byte G, byte B) Top, (byte R, byte G, byte B) Bottom, (byte R, byte G, byte B) Side, uint Grain)
        CandidateSetup(string prompt, long seed, int variant, int width, int height)
    {
        var palette = Palette(prompt, seed);
        var h = Hash(prompt, seed, variant);
        var shapeCount = 5 + (int)(Unit(h, 1) * 4);
        var shapes = new (float X, float Y, float R2, float Cr, float Cg, float Cb)[shapeCount];
        var minSide = Math.Min(width, height);
        for (var i = 0; i < shapeCount; i++)
        {
            var color = palette[(i + 2) % palette.Length];
            var shade = 0.6f + (0.8f * Unit(h, 20 + i));
            var radius = (0.08f + (0.22f * Unit(h, 40 + i))) * minSide;
            shapes[i] = (Unit(h, 60 + i) * width, Unit(h, 80 + i) * height, radius * radius,
                Math.Min(255f, color.R * shade), Math.Min(255f, color.G * shade), Math.Min(255f, color.B * shade));
        }

        return (shapes, palette[0], palette[1], palette[Math.Min(2, palette.Length - 1)], (uint)h);
    }

    /// <summary>The grid of candidates 1..4 at <paramref name="width"/> x <paramref name="height"/> each, drawn in place: the same pixels as <see cref="Grid"/> of four <see cref="Candidate"/>s.</summary>
    public static RgbaImage CandidateGrid(string prompt, long seed, int width, int height)
    {
        var grid = new RgbaImage(width * 2, height * 2);
        for (var v = 1; v <= 4; v++)
        {
            CandidateInto(grid, ((v - 1) % 2) * width, ((v - 1) / 2) * height, prompt, seed, v, width, height);
        }

        return grid;
    }

    /// <summary>A 2x2 grid: 1 top-left, 2 top-right, 3 bottom-left, 4 bottom-right.</summary>
    public static RgbaImage Grid(RgbaImage first, RgbaImage second, RgbaImage third, RgbaImage fourth)
    {
        RgbaImage[] parts = [first, second, third, fourth];
        foreach (var part in parts)
        {
            ArgumentNullException.ThrowIfNull(part);
            if (part.Width != first.Width || part.Height != first.Height)
            {
                throw new ArgumentException("All four grid images must be the same size.", nameof(first));
            }
        }

        var grid = new RgbaImage(first.Width * 2, first.Height * 2);
        for (var i = 0; i < 4; i++)
        {
            Paste(grid, parts[i], (i % 2) * first.Width, (i / 2) * first.Height);
        }

        return grid;
    }

    /// <summary>The quadrant (1..4) of a grid.</summary>
    public static RgbaImage Quadrant(RgbaImage grid, int index)
    {
        ArgumentNullException.ThrowIfNull(grid);
        ArgumentOutOfRangeException.ThrowIfLessThan(index, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 4);
        var w = grid.Width / 2;
        var h = grid.Height / 2;
        return Crop(grid, ((index - 1) % 2) * w, ((index - 1) / 2) * h, w, h);
    }

    /// <summary>A rectangle of an image.</summary>
    public static RgbaImage Crop(RgbaImage source, int x, int y, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (x < 0 || y < 0 || x + width > source.Width || y + height > source.Height)
        {
            throw new ArgumentOutOfRangeException(nameof(x), "The crop lies outside the image.");
        }

        var result = new RgbaImage(width, height);
        for (var row = 0; row < height; row++)
        {
            Buffer.BlockCopy(source.Pixels, (((y + row) * source.Width) + x) * 4, result.Pixels, row * width * 4, width * 4);
        }

        return result;
    }

    /// <summary>Catmull-Rom resampling to any size (the filter widens when shrinking).</summary>
    public static RgbaImage Resize(RgbaImage source, int width, int height)
    {
        ArgumentNullException.ThrowIfNull(source);
        var result = new RgbaImage(width, height);
        if (width == source.Width && height == source.Height)
        {
            Buffer.BlockCopy(source.Pixels, 0, result.Pixels, 0, source.Pixels.Length);
            return result;
        }

        var (xIndex, xWeight, xTaps) = Weights(source.Width, width);
        var (yIndex, yWeight, yTaps) = Weights(source.Height, height);
        var temp = new float[source.Height * width * 4];
        var src = source.Pixels;
        Parallel.For(0, source.Height, y =>
        {
            var inRow = y * source.Width * 4;
            var outRow = y * width * 4;
            for (var x = 0; x < width; x++)
            {
                float r = 0, g = 0, b = 0, a = 0;
                for (var k = 0; k < xTaps; k++)
                {
                    var w = xWeight[(x * xTaps) + k];
                    var i = inRow + (xIndex[(x * xTaps) + k] * 4);
                    r += src[i] * w;
                    g += src[i + 1] * w;
                    b += src[i + 2] * w;
                    a += src[i + 3] * w;
                }

                var o = outRow + (x * 4);
                temp[o] = r;
                temp[o + 1] = g;
                temp[o + 2] = b;
                temp[o + 3] = a;
            }
        });
        var dst = result.Pixels;
        Parallel.For(0, height, y =>
        {
            var outRow = y * width * 4;
            for (var x = 0; x < width; x++)
            {
                float r = 0, g = 0, b = 0, a = 0;
                for (var k = 0; k < yTaps; k++)
                {
                    var w = yWeight[(y * yTaps) + k];
                    var i = ((yIndex[(y * yTaps) + k] * width) + x) * 4;
                    r += temp[i] * w;
                    g += temp[i + 1] * w;
                    b += temp[i + 2] * w;
                    a += temp[i + 3] * w;
                }

                var o = outRow + (x * 4);
                dst[o] = Clamp(r);
                dst[o + 1] = Clamp(g);
                dst[o + 2] = Clamp(b);
                dst[o + 3] = Clamp(a);
            }
        });
        return result;
    }

    /// <summary>2x upscale: subtle = resample with light sharpening; creative = resample plus seeded detail.</summary>
    public static RgbaImage UpscaleAlt(RgbaImage source, bool creative, long seed)
    {
        ArgumentNullException.ThrowIfNull(source);
        var big = Resize(source, source.Width * 2, source.Height * 2);
        var pixels = big.Pixels;
        var width = big.Width;
        var salt = (uint)Hash(creative ? "creative" : "subtle", seed, 0);
        var copy = (byte[])pixels.Clone();
        Parallel.For(1, big.Height - 1, y =>
        {
            for (var x = 1; x < width - 1; x++)
            {
                var i = ((y * width) + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    var centre = copy[i + c];
                    var around = copy[i + c - 4] + copy[i + c + 4] + copy[i + c - (width * 4)] + copy[i + c + (width * 4)];
                    var sharpened = centre + ((4 * centre) - around) * 0.25f;
                    if (creative)
                    {
                        sharpened += (int)(Mix((uint)x, (uint)y, salt) % 25) - 12;
                    }

                    pixels[i + c] = Clamp(sharpened);
                }
            }
        });
        return big;
    }

    /// <summary>A 2x or 4x resample.</summary>
    public static RgbaImage UpscaleHighres(RgbaImage source, int factor)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (factor is not (2 or 4))
        {
            throw new ArgumentOutOfRangeException(nameof(factor), factor, "Use 2 or 4.");
        }

        return Resize(source, source.Width * factor, source.Height * factor);
    }

    /// <summary>Extends one side by half its length; the original pixels are kept unchanged.</summary>
    public static RgbaImage Pan(RgbaImage source, PanDirection direction, string prompt, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(source);
        var (width, height) = PanSize(source.Width, source.Height, direction);
        var result = new RgbaImage(width, height);
        PanInto(result, 0, 0, source, direction, prompt, seed, variant);
        return result;
    }

    /// <summary>The size of a pan of a <paramref name="width"/> x <paramref name="height"/> image.</summary>
    public static (int Width, int Height) PanSize(int width, int height, PanDirection direction) =>
        direction is PanDirection.Left or PanDirection.Right ? (width * 3 / 2, height) : (width, height * 3 / 2);

    /// <summary>Renders <see cref="Pan"/> (the same pixels) into <paramref name="target"/> at (<paramref name="left"/>, <paramref name="top"/>).</summary>
    public static void PanInto(RgbaImage target, int left, int top, RgbaImage source, PanDirection direction, string prompt, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(prompt);
        var horizontal = direction is PanDirection.Left or PanDirection.Right;
        var (width, height) = PanSize(source.Width, source.Height, direction);
        CandidateInto(target, left, top, prompt + " pan " + direction.ToString(), seed, variant, width, height);
        var offsetX = direction == PanDirection.Left ? width - source.Width : 0;
        var offsetY = direction == PanDirection.Up ? height - source.Height : 0;
        var fade = Math.Max(1, (horizontal ? width - source.Width : height - source.Height) / 2);
        var pixels = target.Pixels;
        var src = source.Pixels;
        var targetWidth = target.Width;

        // The new strip starts as the continued edge of the picture and fades into new content.
        Parallel.For(0, height, y =>
        {
            for (var x = 0; x < width; x++)
            {
                var sx = x - offsetX;
                var sy = y - offsetY;
                if (sx >= 0 && sx < source.Width && sy >= 0 && sy < source.Height)
                {
                    continue;
                }

                var distance = horizontal ? (sx < 0 ? -sx : sx - source.Width + 1) : (sy < 0 ? -sy : sy - source.Height + 1);
                var edgeX = Math.Clamp(sx, 0, source.Width - 1);
                var edgeY = Math.Clamp(sy, 0, source.Height - 1);
                var e = 1f - Math.Min(1f, (float)distance / fade);
                var i = (((top + y) * targetWidth) + left + x) * 4;
                var j = ((edgeY * source.Width) + edgeX) * 4;
                for (var c = 0; c < 3; c++)
                {
                    pixels[i + c] = Clamp(Lerp(pixels[i + c], src[j + c], e * e));
                }
            }
        });
        Paste(target, source, left + offsetX, top + offsetY);
    }

    /// <summary>Zoom out: ratio in (1, 2] keeps the size with the source scaled by 1/ratio in the centre; ratio 1 pads to a square.</summary>
    public static RgbaImage ZoomOut(RgbaImage source, double ratio, string prompt, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (double.IsNaN(ratio) || ratio < 1 || ratio > 2)
        {
            throw new ArgumentOutOfRangeException(nameof(ratio), ratio, "Use 1 (make square) or a ratio above 1 up to 2.");
        }

        RgbaImage inner;
        int width;
        int height;
        if (ratio == 1)
        {
            width = height = Math.Max(source.Width, source.Height);
            inner = source;
        }
        else
        {
            width = source.Width;
            height = source.Height;
            inner = Resize(source, Math.Max(1, (int)Math.Round(source.Width / ratio)), Math.Max(1, (int)Math.Round(source.Height / ratio)));
        }

        var canvas = Candidate(prompt + " zoom", seed, variant, width, height);
        var (mr, mg, mb) = Mean(source);
        var pixels = canvas.Pixels;
        for (var i = 0; i < pixels.Length; i += 4)
        {
            pixels[i] = (byte)((pixels[i] + mr) / 2);
            pixels[i + 1] = (byte)((pixels[i + 1] + mg) / 2);
            pixels[i + 2] = (byte)((pixels[i + 2] + mb) / 2);
        }

        Paste(canvas, inner, (width - inner.Width) / 2, (height - inner.Height) / 2);
        return canvas;
    }

    /// <summary>Redraws the masked region (white, opaque) and keeps every other pixel byte for byte.</summary>
    public static RgbaImage Inpaint(RgbaImage source, RgbaImage mask, string prompt, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(mask);
        var generated = Candidate(prompt + " inpaint", seed, variant, source.Width, source.Height);
        var result = new RgbaImage(source.Width, source.Height, (byte[])source.Pixels.Clone());
        var any = false;
        for (var y = 0; y < source.Height; y++)
        {
            var my = (int)((long)y * mask.Height / source.Height);
            for (var x = 0; x < source.Width; x++)
            {
                var mx = (int)((long)x * mask.Width / source.Width);
                var m = ((my * mask.Width) + mx) * 4;
                var luminance = ((mask.Pixels[m] * 299) + (mask.Pixels[m + 1] * 587) + (mask.Pixels[m + 2] * 114)) / 1000;
                if (mask.Pixels[m + 3] < 128 || luminance < 128)
                {
                    continue;
                }

                any = true;
                var i = ((y * source.Width) + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    var value = Clamp(Lerp(source.Pixels[i + c], generated.Pixels[i + c], 0.85f));
                    result.Pixels[i + c] = value == source.Pixels[i + c] ? (byte)(value ^ 0x10) : value;
                }
            }
        }

        return any ? result : throw new ArgumentException("mask selects no pixels: paint the region to redraw white on black.", nameof(mask));
    }

    /// <summary>Mixes 2..5 images into a square, portrait or landscape picture.</summary>
    public static RgbaImage Blend(IReadOnlyList<RgbaImage> inputs, BlendDimension dimension, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count is < 2 or > 5)
        {
            throw new ArgumentException($"Blend takes 2 to 5 images, not {inputs.Count}.", nameof(inputs));
        }

        var (width, height) = dimension switch
        {
            BlendDimension.Portrait => (768, 1024),
            BlendDimension.Landscape => (1024, 768),
            _ => (1024, 1024),
        };
        var covered = inputs.Select(input => Cover(input, width, height)).ToArray();
        (float X, float Y)[] directions = [(1f, 0f), (0f, 1f), (0.7071f, 0.7071f), (0.7071f, -0.7071f)];
        var direction = directions[(int)(Hash("blend", seed, variant) % 4)];
        var n = covered.Length;
        var result = new RgbaImage(width, height);
        Parallel.For(0, height, y =>
        {
            Span<float> weights = stackalloc float[5];
            for (var x = 0; x < width; x++)
            {
                var position = ((direction.X * x / width) + (direction.Y * y / height) + 1f) / 2.5f;
                var total = 0f;
                for (var k = 0; k < n; k++)
                {
                    var centre = (k + 0.5f) / n;
                    weights[k] = Math.Max(0.05f, 1f - (Math.Abs(position - centre) * n));
                    total += weights[k];
                }

                var i = ((y * width) + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    var sum = 0f;
                    for (var k = 0; k < n; k++)
                    {
                        sum += covered[k].Pixels[i + c] * weights[k];
                    }

                    result.Pixels[i + c] = Clamp(sum / total);
                }

                result.Pixels[i + 3] = 255;
            }
        });
        return result;
    }

    /// <summary>Pastes a soft-edged ellipse of <paramref name="swap"/> onto the upper middle of <paramref name="target"/>.</summary>
    public static RgbaImage FaceSwap(RgbaImage target, RgbaImage swap)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(swap);
        var size = Math.Max(2, (int)(Math.Min(target.Width, target.Height) * 0.4));
        var face = Cover(swap, size, size);
        var result = new RgbaImage(target.Width, target.Height, (byte[])target.Pixels.Clone());
        var left = (target.Width - size) / 2;
        var topEdge = Math.Max(0, (target.Height / 3) - (size / 2));
        var rx = size * 0.4f;
        var ry = size * 0.5f;
        for (var y = 0; y < size && topEdge + y < target.Height; y++)
        {
            for (var x = 0; x < size; x++)
            {
                var dx = (x - (size / 2f)) / rx;
                var dy = (y - (size / 2f)) / ry;
                var alpha = Math.Clamp((1f - ((dx * dx) + (dy * dy))) * 4f, 0f, 1f);
                if (alpha <= 0f)
                {
                    continue;
                }

                var i = (((topEdge + y) * target.Width) + left + x) * 4;
                var j = ((y * size) + x) * 4;
                for (var c = 0; c < 3; c++)
                {
                    result.Pixels[i + c] = Clamp(Lerp(result.Pixels[i + c], face.Pixels[j + c], alpha));
                }
            }
        }

        return result;
    }

    /// <summary>Four prompts from the image's colours, brightness, contrast and shape.</summary>
    public static IReadOnlyList<string> Describe(RgbaImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var (r, _, b) = Mean(image);
        double sum = 0, sumSquares = 0;
        var counts = new int[ColorNames.Length];
        var step = Math.Max(1, (image.Width * image.Height) / 65536);
        var samples = 0;
        for (var p = 0; p < image.Width * image.Height; p += step)
        {
            var i = p * 4;
            var luminance = ((image.Pixels[i] * 299) + (image.Pixels[i + 1] * 587) + (image.Pixels[i + 2] * 114)) / 1000.0;
            sum += luminance;
            sumSquares += luminance * luminance;
            counts[Nearest(image.Pixels[i], image.Pixels[i + 1], image.Pixels[i + 2])]++;
            samples++;
        }

        var mean = sum / samples;
        var deviation = Math.Sqrt(Math.Max(0, (sumSquares / samples) - (mean * mean)));
        var ranked = Enumerable.Range(0, counts.Length).OrderByDescending(i => counts[i]).ThenBy(i => i).ToArray();
        var first = ColorNames[ranked[0]].Name;
        var second = ColorNames[ranked[1]].Name;
        var brightness = mean < 85 ? "dark" : mean > 170 ? "bright" : "balanced";
        var contrast = deviation > 60 ? "high contrast" : deviation < 25 ? "soft low contrast" : "gentle contrast";
        var warmth = r > b + 10 ? "warm" : b > r + 10 ? "cool" : "neutral";
        var divisor = Gcd(image.Width, image.Height);
        var ar = string.Create(CultureInfo.InvariantCulture, $"--ar {image.Width / divisor}:{image.Height / divisor}");
        return
        [
            $"a {brightness} {warmth} scene dominated by {first} and {second} tones, {contrast} {ar}",
            $"{first} light over a {second} landscape, {brightness} atmosphere, painterly {ar}",
            $"abstract composition of {first} shapes on a {second} background, {contrast}, {warmth} palette {ar}",
            $"{warmth} {brightness} photograph with a {first} palette and {second} accents {ar}",
        ];
    }

    /// <summary>
    /// Fits within maxSide x maxSide keeping the aspect ratio (box filter when shrinking): the pixels of
    /// <see cref="ThumbnailReference"/>, computed row by row with vectors on one thread (a preview is made per finished
    /// task, often many at once: CPU, not latency, is what counts).
    /// </summary>
    public static RgbaImage Thumbnail(RgbaImage source, int maxSide)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        var scale = (double)maxSide / Math.Max(source.Width, source.Height);
        return scale >= 1
            ? new RgbaImage(source.Width, source.Height, (byte[])source.Pixels.Clone())
            : BoxShrink.Shrink(source, Math.Max(1, (int)Math.Round(source.Width * scale)), Math.Max(1, (int)Math.Round(source.Height * scale)));
    }

    /// <summary>The reference for <see cref="Thumbnail"/> (pixel by pixel, 64-bit sums): what the fast paths must equal exactly.</summary>
    internal static RgbaImage ThumbnailReference(RgbaImage source, int maxSide)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxSide, 1);
        var scale = (double)maxSide / Math.Max(source.Width, source.Height);
        if (scale >= 1)
        {
            return new RgbaImage(source.Width, source.Height, (byte[])source.Pixels.Clone());
        }

        var width = Math.Max(1, (int)Math.Round(source.Width * scale));
        var height = Math.Max(1, (int)Math.Round(source.Height * scale));
        var result = new RgbaImage(width, height);
        Parallel.For(0, height, y =>
        {
            var y0 = (int)((long)y * source.Height / height);
            var y1 = Math.Max(y0 + 1, (int)((long)(y + 1) * source.Height / height));
            for (var x = 0; x < width; x++)
            {
                var x0 = (int)((long)x * source.Width / width);
                var x1 = Math.Max(x0 + 1, (int)((long)(x + 1) * source.Width / width));
                long r = 0, g = 0, b = 0, a = 0;
                for (var sy = y0; sy < y1; sy++)
                {
                    for (var sx = x0; sx < x1; sx++)
                    {
                        var i = ((sy * source.Width) + sx) * 4;
                        r += source.Pixels[i];
                        g += source.Pixels[i + 1];
                        b += source.Pixels[i + 2];
                        a += source.Pixels[i + 3];
                    }
                }

                var n = (y1 - y0) * (x1 - x0);
                var o = ((y * width) + x) * 4;
                result.Pixels[o] = (byte)(r / n);
                result.Pixels[o + 1] = (byte)(g / n);
                result.Pixels[o + 2] = (byte)(b / n);
                result.Pixels[o + 3] = (byte)(a / n);
            }
        });
        return result;
    }

    /// <summary>FNV-1a over the size and pixels: compare decoded pixels, never PNG bytes.</summary>
    public static ulong PixelHash(RgbaImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var hash = 14695981039346656037UL;
        void Add(byte value) => hash = (hash ^ value) * 1099511628211UL;
        foreach (var b in BitConverter.GetBytes(image.Width))
        {
            Add(b);
        }

        foreach (var b in BitConverter.GetBytes(image.Height))
        {
            Add(b);
        }

        foreach (var b in image.Pixels)
        {
            Add(b);
        }

        return hash;
    }

    /// <summary>A stable 64-bit hash of text, seed and variant (FNV-1a; System.HashCode is randomised per process).</summary>
    public static ulong Hash(string text, long seed, int variant)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        hash = (hash ^ (ulong)seed) * 1099511628211UL;
        hash = (hash ^ (ulong)(uint)variant) * 1099511628211UL;
        return SplitMix(hash);
    }

    /// <summary>Copies <paramref name="source"/> into <paramref name="target"/> with its top-left corner at (<paramref name="left"/>, <paramref name="top"/>).</summary>
    public static void Paste(RgbaImage target, RgbaImage source, int left, int top)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(source);
        if (left < 0 || top < 0 || left + source.Width > target.Width || top + source.Height > target.Height)
        {
            throw new ArgumentOutOfRangeException(nameof(left), "The pasted image lies outside the target.");
        }

        for (var y = 0; y < source.Height; y++)
        {
            Buffer.BlockCopy(source.Pixels, y * source.Width * 4, target.Pixels, (((top + y) * target.Width) + left) * 4, source.Width * 4);
        }
    }

    /// <summary>Resizes to cover width x height, then crops the centre.</summary>
    private static RgbaImage Cover(RgbaImage source, int width, int height)
    {
        var scale = Math.Max((double)width / source.Width, (double)height / source.Height);
        var w = Math.Max(width, (int)Math.Ceiling(source.Width * scale));
        var h = Math.Max(height, (int)Math.Ceiling(source.Height * scale));
        var resized = Resize(source, Math.Min(w, RgbaImage.MaxSide), Math.Min(h, RgbaImage.MaxSide));
        return Crop(resized, (resized.Width - width) / 2, (resized.Height - height) / 2, width, height);
    }

    private static (int[] Index, float[] Weight, int Taps) Weights(int inSize, int outSize)
    {
        var scale = (double)inSize / outSize;
        var spread = Math.Max(1.0, scale);
        var taps = (int)Math.Ceiling(2 * spread) * 2;
        var index = new int[outSize * taps];
        var weight = new float[outSize * taps];
        for (var o = 0; o < outSize; o++)
        {
            var centre = ((o + 0.5) * scale) - 0.5;
            var start = (int)Math.Floor(centre - (2 * spread)) + 1;
            var total = 0.0;
            for (var k = 0; k < taps; k++)
            {
                var w = CatmullRom((start + k - centre) / spread);
                index[(o * taps) + k] = Math.Clamp(start + k, 0, inSize - 1);
                weight[(o * taps) + k] = (float)w;
                total += w;
            }

            for (var k = 0; k < taps; k++)
            {
                weight[(o * taps) + k] = (float)(weight[(o * taps) + k] / total);
            }
        }

        return (index, weight, taps);
    }

    private static double CatmullRom(double x)
    {
        x = Math.Abs(x);
        return x < 1 ? (1.5 * x * x * x) - (2.5 * x * x) + 1
            : x < 2 ? (-0.5 * x * x * x) + (2.5 * x * x) - (4 * x) + 2
            : 0;
    }

    private static (byte R, byte G, byte B)[] Palette(string prompt, long seed)
    {
        var words = prompt.ToLowerInvariant().Split([' ', ',', '.', '-', ';', ':', '!', '?', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var found = Keywords.Where(k => words.Contains(k.Word)).Select(k => (k.R, k.G, k.B)).ToList();
        var h = Hash(prompt, seed, 0);
        var colours = new List<(byte R, byte G, byte B)>(found);
        for (var i = 0; colours.Count < 5; i++)
        {
            colours.Add(((byte)(40 + (Unit(h, 200 + (i * 3)) * 200)), (byte)(40 + (Unit(h, 201 + (i * 3)) * 200)), (byte)(40 + (Unit(h, 202 + (i * 3)) * 200))));
        }

        return [.. colours];
    }

    private static (int R, int G, int B) Mean(RgbaImage image)
    {
        long r = 0, g = 0, b = 0;
        var n = image.Width * image.Height;
        for (var i = 0; i < image.Pixels.Length; i += 4)
        {
            r += image.Pixels[i];
            g += image.Pixels[i + 1];
            b += image.Pixels[i + 2];
        }

        return ((int)(r / n), (int)(g / n), (int)(b / n));
    }

    private static int Nearest(byte r, byte g, byte b)
    {
        var best = 0;
        var bestDistance = int.MaxValue;
        for (var i = 0; i < ColorNames.Length; i++)
        {
            var dr = r - ColorNames[i].R;
            var dg = g - ColorNames[i].G;
            var db = b - ColorNames[i].B;
            var distance = (dr * dr) + (dg * dg) + (db * db);
            if (distance < bestDistance)
            {
                best = i;
                bestDistance = distance;
            }
        }

        return best;
    }

    private static int Gcd(int a, int b) => b == 0 ? Math.Max(a, 1) : Gcd(b, a % b);

    private static float Unit(ulong hash, int index) => (SplitMix(hash + (ulong)index) >> 40) / (float)(1UL << 24);

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    internal static uint Mix(uint x, uint y, uint salt)
    {
        var h = (x * 0x8DA6B343u) ^ (y * 0xD8163841u) ^ (salt * 0xCB1AB31Fu);
        h ^= h >> 13;
        h *= 0x5BD1E995u;
        return h ^ (h >> 15);
    }

    internal static float Lerp(float a, float b, float t) => a + ((b - a) * t);

    internal static byte Clamp(float value) => value <= 0 ? (byte)0 : value >= 255 ? (byte)255 : (byte)(value + 0.5f);
}
