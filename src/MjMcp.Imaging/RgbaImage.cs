namespace MjMcp.Imaging;

/// <summary>An RGBA8 image, row-major, Width*Height*4 bytes.</summary>
public sealed class RgbaImage
{
    /// <summary>The largest side accepted anywhere (a 8192² image is 256 MiB).</summary>
    public const int MaxSide = 8192;

    /// <summary>A transparent black image.</summary>
    public RgbaImage(int width, int height)
        : this(width, height, new byte[Check(width, height)])
    {
    }

    /// <summary>An image over existing pixels.</summary>
    public RgbaImage(int width, int height, byte[] pixels)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        var length = Check(width, height);
        if (pixels.Length != length)
        {
            throw new ArgumentException($"A {width}x{height} RGBA image needs {length} bytes, not {pixels.Length}.", nameof(pixels));
        }

        Width = width;
        Height = height;
        Pixels = pixels;
    }

    /// <summary>Width in pixels.</summary>
    public int Width { get; }

    /// <summary>Height in pixels.</summary>
    public int Height { get; }

    /// <summary>RGBA bytes.</summary>
    public byte[] Pixels { get; }

    private static int Check(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, MaxSide);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, MaxSide);
        return checked(width * height * 4);
    }
}
