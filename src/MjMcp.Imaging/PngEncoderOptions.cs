using System.IO.Compression;

namespace MjMcp.Imaging;

/// <summary>
/// How <see cref="PngCodec"/> writes a PNG. The pixels are the same whatever the options (PNG is lossless); only the
/// time taken and the file size change. <see cref="Baseline"/> is the encoder as it was before issue 11, kept so a
/// benchmark can compare both in one run.
/// </summary>
public sealed record PngEncoderOptions
{
    /// <summary>zlib level 0 (stored) to 9 (smallest). 1 is the fastest that compresses (the BCL's zlib-ng).</summary>
    public int CompressionLevel { get; init; } = 1;

    /// <summary>The zlib strategy.</summary>
    public ZLibCompressionStrategy Strategy { get; init; } = ZLibCompressionStrategy.Default;

    /// <summary>
    /// True: rows are filtered and packed with vector instructions straight from the image, and the chunk CRCs are
    /// computed 8 bytes at a time. False: the byte-by-byte loops of <see cref="Baseline"/>.
    /// </summary>
    public bool Vectorized { get; init; } = true;

    /// <summary>
    /// The encoder before issue 11: zlib's fastest level (<see cref="System.IO.Compression.CompressionLevel.Fastest"/> is
    /// level 1), Sub on the first row and Up below, byte-by-byte row loops and CRC. A 2048² sandbox grid: ~6.4 MB.
    /// </summary>
    public static PngEncoderOptions Baseline { get; } = new() { CompressionLevel = 1, Vectorized = false };

    /// <summary>
    /// The default: the same filters and zlib level as <see cref="Baseline"/> (so the same file size), with vector row
    /// filtering and packing and a table-sliced CRC; the row loops, not zlib, were most of the baseline's time.
    /// </summary>
    public static PngEncoderOptions Default { get; } = new();
}
