namespace MjMcp.Imaging;

/// <summary>
/// Reuses the large pixel arrays of images that are made and dropped all the time (a sandbox grid is 16–24 MiB, a
/// decoded parent 4 MiB): every new one would go to the large object heap, which is only reclaimed by full collections
/// and fragments, so under load the process kept hundreds of megabytes it did not use. Arrays are kept by exact size
/// (an <see cref="RgbaImage"/> needs exactly width*height*4 bytes, so ArrayPool's power-of-two buckets would not fit)
/// and at most <see cref="MaxRetainedBytes"/> in all; anything beyond is left to the collector.
/// </summary>
public static class PixelPool
{
    /// <summary>The most bytes kept for reuse (two renders' grids and parents at the full size).</summary>
    public const long MaxRetainedBytes = 96L << 20;

    /// <summary>Arrays smaller than this are not pooled (the small object heap handles them well).</summary>
    private const int MinPooledBytes = 1 << 20;

    private static readonly object Lock = new();
    private static readonly List<byte[]> Free = [];
    private static long _retained;

    /// <summary>Bytes kept for reuse now, for tests.</summary>
    public static long RetainedBytes
    {
        get
        {
            lock (Lock)
            {
                return _retained;
            }
        }
    }

    /// <summary>
    /// An image whose pixels are NOT cleared (a reused array holds an earlier picture): for callers that write every
    /// pixel. Give it back with <see cref="Return"/> when nothing refers to it any more.
    /// </summary>
    public static RgbaImage Rent(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, RgbaImage.MaxSide);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(height, RgbaImage.MaxSide);
        var length = width * height * 4;
        if (length >= MinPooledBytes)
        {
            lock (Lock)
            {
                var index = Free.FindIndex(a => a.Length == length);
                if (index >= 0)
                {
                    var array = Free[index];
                    Free.RemoveAt(index);
                    _retained -= array.Length;
                    return new RgbaImage(width, height, array);
                }
            }
        }

        return new RgbaImage(width, height, GC.AllocateUninitializedArray<byte>(length));
    }

    /// <summary>Takes back the pixels of <paramref name="image"/> for reuse; the image must not be used afterwards.</summary>
    public static void Return(RgbaImage? image)
    {
        if (image is null || image.Pixels.Length < MinPooledBytes)
        {
            return;
        }

        lock (Lock)
        {
            if (Free.Exists(a => ReferenceEquals(a, image.Pixels)))
            {
                return; // returned twice: keep one entry
            }

            // Room is made by dropping the oldest kept arrays: recent sizes are the likeliest to be asked for again.
            while (_retained + image.Pixels.Length > MaxRetainedBytes && Free.Count > 0)
            {
                _retained -= Free[0].Length;
                Free.RemoveAt(0);
            }

            if (_retained + image.Pixels.Length <= MaxRetainedBytes)
            {
                Free.Add(image.Pixels);
                _retained += image.Pixels.Length;
            }
        }
    }
}
