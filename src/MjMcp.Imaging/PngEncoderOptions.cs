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
    /// True: an image of at least <see cref="ParallelMinRows"/> rows is compressed in bands on several cores at once (one
    /// per core, at most 4), joined into one zlib stream (each band but the last ends with a sync flush, and the Adler-32s
    /// are combined). The same pixels; a few hundred bytes larger. Ignored unless <see cref="Vectorized"/>.
    /// </summary>
    public bool Parallel { get; init; } = true;

    /// <summary>
    /// True (with <see cref="Vectorized"/>): the rows are compressed by <see cref="LiteralDeflate"/>, literal-only deflate
    /// blocks with a Huffman code per 64 KiB, instead of zlib (<see cref="CompressionLevel"/> and <see cref="Strategy"/> are
    /// then unused): several times faster, and on the sandbox's noisy pictures smaller than zlib's fastest level.
    /// Pictures whose filtered rows are dominated by one value (flat colour, drawings: long runs, which only zlib's string
    /// matching packs well) still go to zlib. False: always the BCL's zlib at <see cref="CompressionLevel"/>.
    /// </summary>
    public bool LiteralBlocks { get; init; } = true;

    /// <summary>Images shorter than this are compressed on one core (bands would cost more than they save).</summary>
    public int ParallelMinRows { get; init; } = 512;

    /// <summary>
    /// The encoder before issue 11: zlib's fastest level (<see cref="System.IO.Compression.CompressionLevel.Fastest"/> is
    /// level 1), Sub on the first row and Up below, byte-by-byte row loops and CRC. A 2048² sandbox grid: ~6.4 MB.
    /// </summary>
    public static PngEncoderOptions Baseline { get; } = new() { CompressionLevel = 1, Vectorized = false, Parallel = false, LiteralBlocks = false };

    /// <summary>
    /// The default: the same filters as <see cref="Baseline"/>, with vector row filtering and packing, a table-sliced CRC,
    /// literal deflate blocks (<see cref="LiteralBlocks"/>) instead of zlib, and bands compressed in parallel.
    /// </summary>
    public static PngEncoderOptions Default { get; } = new();
}
