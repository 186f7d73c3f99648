using System.Buffers.Binary;
using System.IO.Compression;
using System.Runtime.Intrinsics;
using StbImageSharp;

namespace MjMcp.Imaging;

/// <summary>
/// PNG encoding (hand-written: signature, IHDR, IDAT with the Up filter as <see cref="LiteralDeflate"/> blocks or over the
/// BCL's zlib (see <see cref="PngEncoderOptions.LiteralBlocks"/>), IEND, CRC-32 — no served package encodes PNG well
/// enough, see shared/reference/images.md) and decoding of
/// PNG, JPEG and the other formats StbImageSharp reads. 8-bit RGB/RGBA PNGs that are not interlaced (every PNG this
/// library writes, and what providers serve) are read by a streaming reader straight into the image: StbImageSharp
/// first inflates the whole image data into growing buffers (several copies of the image on the large object heap).
/// </summary>
public static class PngCodec
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>IDAT chunks are cut at this size while the compressor writes (the whole IDAT is never held).</summary>
    private const int IdatChunkBytes = 1 << 16;

    /// <summary>Encodes as a PNG with <see cref="PngEncoderOptions.Default"/>: RGB when every pixel is opaque, RGBA otherwise.</summary>
    public static byte[] Encode(RgbaImage image) => Encode(image, PngEncoderOptions.Default);

    /// <summary>Encodes as a PNG with <paramref name="options"/>.</summary>
    public static byte[] Encode(RgbaImage image, PngEncoderOptions options)
    {
        using var stream = new MemoryStream();
        Encode(image, stream, options);
        return stream.ToArray();
    }

    /// <summary>Encodes as a PNG into <paramref name="destination"/> with <see cref="PngEncoderOptions.Default"/>.</summary>
    public static void Encode(RgbaImage image, Stream destination) => Encode(image, destination, PngEncoderOptions.Default);

    /// <summary>
    /// Encodes as a PNG into <paramref name="destination"/>, streaming: the compressed data goes out in 64 KiB IDAT
    /// chunks as it is made, so encoding holds a few rows and one chunk, never the whole file. RGB when every pixel is
    /// opaque (a quarter less to compress), RGBA otherwise; filter Sub on the first row and Up below (smooth pictures
    /// compress far better).
    /// </summary>
    public static void Encode(RgbaImage image, Stream destination, PngEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        Encode(image, 0, 0, image.Width, image.Height, destination, options);
    }

    /// <summary>
    /// Encodes the rectangle (<paramref name="left"/>, <paramref name="top"/>, <paramref name="width"/> x
    /// <paramref name="height"/>) of <paramref name="image"/> as a PNG without copying it out first (a grid's quadrants
    /// are written straight from the grid).
    /// </summary>
    public static void Encode(RgbaImage image, int left, int top, int width, int height, Stream destination, PngEncoderOptions options)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(options);
        if (left < 0 || top < 0 || width < 1 || height < 1 || left + width > image.Width || top + height > image.Height)
        {
            throw new ArgumentOutOfRangeException(nameof(left), "The rectangle lies outside the image.");
        }

        var pixels = image.Pixels;
        var rowBytes = width * 4;
        var imageWidth = image.Width;
        int RowStart(int y) => (((top + y) * imageWidth) + left) * 4;
        var opaque = true;
        for (var y = 0; y < height && opaque; y++)
        {
            var row = pixels.AsSpan(RowStart(y), rowBytes);
            opaque = options.Vectorized ? PngRows.IsOpaque(row) : PngRows.IsOpaqueScalar(row);
        }

        var channels = opaque ? 3 : 4;
        var literal = options.Vectorized && options.LiteralBlocks && LooksNoisy(pixels, width, height, RowStart);
        destination.Write(Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], height);
        header[8] = 8; // bit depth
        header[9] = (byte)(opaque ? 2 : 6); // RGB or RGBA
        header[10] = header[11] = header[12] = 0;
        WriteChunk(destination, "IHDR"u8, header, options.Vectorized);

        var zlibOptions = new ZLibCompressionOptions { CompressionLevel = options.CompressionLevel, CompressionStrategy = options.Strategy };
        using (var idat = new IdatStream(destination, options.Vectorized))
        {
            var bands = Math.Min(Environment.ProcessorCount, 4);
            if (options.Vectorized && options.Parallel && bands > 1 && height >= Math.Max(2, options.ParallelMinRows))
            {
                EncodeBands(pixels, width, height, RowStart, channels, literal ? null : zlibOptions, bands, idat);
            }
            else if (literal)
            {
                idat.Write([0x78, 0x01]);
                var deflate = new LiteralDeflate(idat);
                var adler = EncodeRows(pixels, width, 0, height, RowStart, channels, deflate, adler: 1u);
                deflate.Finish(final: true);
                Span<byte> trailer = stackalloc byte[4];
                BinaryPrimitives.WriteUInt32BigEndian(trailer, adler);
                idat.Write(trailer);
            }
            else
            {
                using var zlib = new ZLibStream(idat, zlibOptions, leaveOpen: true);
                if (options.Vectorized)
                {
                    EncodeRows(pixels, width, 0, height, RowStart, channels, zlib, adler: null);
                }
                else
                {
                    EncodeRowsBaseline(pixels, width, height, RowStart, channels, zlib);
                }
            }
        }

        WriteChunk(destination, "IEND"u8, [], options.Vectorized);
    }

    /// <summary>
    /// Whether literal blocks suit the picture: a sample of up to 64 rows, Up-filtered, must not be dominated by one
    /// value. Literal coding spends at least a bit a byte, while zlib's string matching packs long runs (flat colour,
    /// drawings) into almost nothing; the sandbox's pictures (gradients with grain) have no such runs.
    /// </summary>
    private static bool LooksNoisy(byte[] pixels, int width, int height, Func<int, int> rowStart)
    {
        if (height < 2)
        {
            return false;
        }

        Span<int> counts = stackalloc int[256];
        var sampled = 0;
        var rows = Math.Min(64, height - 1);
        for (var k = 0; k < rows; k++)
        {
            var y = 1 + (int)((long)k * (height - 1) / rows);
            var current = pixels.AsSpan(rowStart(y), width * 4);
            var above = pixels.AsSpan(rowStart(y - 1), width * 4);
            for (var x = 0; x < current.Length; x += 4)
            {
                counts[(byte)(current[x] - above[x])]++;
                counts[(byte)(current[x + 1] - above[x + 1])]++;
                counts[(byte)(current[x + 2] - above[x + 2])]++;
                sampled += 3;
            }
        }

        var most = 0;
        foreach (var count in counts)
        {
            most = Math.Max(most, count);
        }

        return most * 2 < sampled;
    }

    /// <summary>
    /// Each row is filtered in RGBA straight from the image (Up: minus the row above; Sub: minus the pixel to the left)
    /// with vector subtraction, then packed to RGB with a shuffle: one pass, no copy of the row first.
    /// </summary>
    private static uint EncodeRows(byte[] pixels, int width, int fromRow, int toRow, Func<int, int> rowStart, int channels, Stream zlib, uint? adler)
    {
        var rowBytes = width * 4;
        var stride = width * channels;
        var row = new byte[stride + 1 + 16];
        var diff = new byte[rowBytes];
        var checksum = adler ?? 1u;
        for (var y = fromRow; y < toRow; y++)
        {
            var current = pixels.AsSpan(rowStart(y), rowBytes);
            if (y == 0)
            {
                row[0] = (byte)PngFilterType.Sub;
                PngRows.SubtractLeft(current, diff);
            }
            else
            {
                row[0] = (byte)PngFilterType.Up;
                PngRows.Subtract(current, pixels.AsSpan(rowStart(y - 1), rowBytes), diff);
            }

            if (channels == 3)
            {
                PngRows.PackRgb(diff, row.AsSpan(1));
            }
            else
            {
                diff.CopyTo(row.AsSpan(1));
            }

            zlib.Write(row, 0, stride + 1);
            if (adler is not null)
            {
                checksum = Adler32.Update(checksum, row.AsSpan(0, stride + 1));
            }
        }

        return checksum;
    }

    /// <summary>
    /// Rows cut into <paramref name="bands"/> bands compressed at once, each as raw deflate into its own buffer (64 KiB
    /// pieces, never one large array), joined in order into one zlib stream: a header, every band (all but the last
    /// closed with a sync flush, which ends byte-aligned and is not final), and the bands' Adler-32s combined.
    /// Each band filters from the image itself (its first row's Up reads the row above it), so the pixels are the same.
    /// </summary>
    private static void EncodeBands(byte[] pixels, int width, int height, Func<int, int> rowStart, int channels, ZLibCompressionOptions? zlib, int bands, Stream idat)
    {
        var parts = new PieceBuffer[bands];
        var checksums = new uint[bands];
        var lengths = new long[bands];
        Parallel.For(0, bands, band =>
        {
            int from = height * band / bands, to = height * (band + 1) / bands;
            var buffer = new PieceBuffer();
            if (zlib is null)
            {
                // Literal blocks (PngEncoderOptions.LiteralBlocks): every band but the last ends byte-aligned and open.
                var literal = new LiteralDeflate(buffer);
                checksums[band] = EncodeRows(pixels, width, from, to, rowStart, channels, literal, adler: 1u);
                literal.Finish(final: band == bands - 1);
            }
            else
            {
                using var deflate = new DeflateStream(buffer, zlib, leaveOpen: true);
                checksums[band] = EncodeRows(pixels, width, from, to, rowStart, channels, deflate, adler: 1u);
                if (band < bands - 1)
                {
                    deflate.Flush(); // a sync flush: byte-aligned, not final
                    buffer.Seal();
                }
            }

            lengths[band] = (long)(to - from) * ((width * channels) + 1);
            parts[band] = buffer;
        });

        // CMF 0x78 (deflate, 32 KiB window), FLG 0x01 (fastest; the header's check bits make it divisible by 31).
        idat.Write([0x78, 0x01]);
        var adler = 1u;
        for (var band = 0; band < bands; band++)
        {
            parts[band].WriteTo(idat);
            adler = Adler32.Combine(adler, checksums[band], lengths[band]);
        }

        Span<byte> trailer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(trailer, adler);
        idat.Write(trailer);
    }

    /// <summary>The row loop before issue 11 (<see cref="PngEncoderOptions.Baseline"/>): byte by byte, copying each row first.</summary>
    private static void EncodeRowsBaseline(byte[] pixels, int width, int height, Func<int, int> rowStart, int channels, Stream zlib)
    {
        var stride = width * channels;
        var row = new byte[stride + 1];
        var previous = new byte[stride];
        var current = new byte[stride];
        for (var y = 0; y < height; y++)
        {
            var source = pixels.AsSpan(rowStart(y), width * 4);
            if (channels == 3)
            {
                for (int x = 0, o = 0; o < stride; x += 4, o += 3)
                {
                    current[o] = source[x];
                    current[o + 1] = source[x + 1];
                    current[o + 2] = source[x + 2];
                }
            }
            else
            {
                source.CopyTo(current);
            }

            if (y == 0)
            {
                row[0] = 1; // Sub
                for (var x = 0; x < stride; x++)
                {
                    row[x + 1] = (byte)(current[x] - (x >= channels ? current[x - channels] : 0));
                }
            }
            else
            {
                row[0] = 2; // Up
                for (var x = 0; x < stride; x++)
                {
                    row[x + 1] = (byte)(current[x] - previous[x]);
                }
            }

            zlib.Write(row);
            (previous, current) = (current, previous);
        }
    }

    /// <summary>Decodes an image file (read as a stream: no copy of the whole file is made first).</summary>
    public static RgbaImage DecodeFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        return Decode(stream);
    }

    /// <summary>Decodes an image; throws <see cref="InvalidDataException"/> for anything that is not a readable image of at most 8192 px a side.</summary>
    public static RgbaImage Decode(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        using var stream = new MemoryStream(data, writable: false);
        return Decode(stream);
    }

    /// <summary>Decodes an image; throws <see cref="InvalidDataException"/> for anything that is not a readable image of at most 8192 px a side.</summary>
    public static RgbaImage Decode(ReadOnlySpan<byte> data) => Decode(data.ToArray());

    /// <summary>Decodes an image from a seekable stream positioned at its start.</summary>
    private static RgbaImage Decode(Stream stream)
    {
        var (width, height) = ReadSize(stream);
        if (width > RgbaImage.MaxSide || height > RgbaImage.MaxSide)
        {
            throw new InvalidDataException($"The image is {width}x{height}; at most {RgbaImage.MaxSide} px a side is accepted.");
        }

        stream.Position = 0;
        if (PngReader.TryOpen(stream) is { } reader)
        {
            return reader.ReadImage();
        }

        stream.Position = 0;
        try
        {
            var result = ImageResult.FromStream(stream, ColorComponents.RedGreenBlueAlpha);
            return new RgbaImage(result.Width, result.Height, result.Data);
        }
        catch (Exception ex) when (ex is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException("The image data could not be decoded: " + ex.Message, ex);
        }
    }

    private static (int Width, int Height) ReadSize(Stream stream)
    {
        Span<byte> head = stackalloc byte[24];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (read == head.Length && head[..8].SequenceEqual(Signature))
        {
            return (BinaryPrimitives.ReadInt32BigEndian(head[16..]), BinaryPrimitives.ReadInt32BigEndian(head[20..]));
        }

        stream.Position = 0;
        try
        {
            var info = ImageInfo.FromStream(stream) ?? throw new InvalidDataException("The data is not an image (PNG, JPEG, BMP, GIF, TGA, PSD or HDR).");
            return (info.Width, info.Height);
        }
        catch (Exception ex) when (ex is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException("The data is not a readable image: " + ex.Message, ex);
        }
    }

    /// <summary>The size from the header, without decoding pixels.</summary>
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 24 && data[..8].SequenceEqual(Signature))
        {
            return (BinaryPrimitives.ReadInt32BigEndian(data[16..]), BinaryPrimitives.ReadInt32BigEndian(data[20..]));
        }

        using var stream = new MemoryStream(data.ToArray());
        return ReadSize(stream);
    }

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data, bool fastCrc)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        stream.Write(type);
        stream.Write(data);
        var crc = fastCrc
            ? PngRows.Crc(PngRows.Crc(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu
            : PngRows.CrcBytewise(PngRows.CrcBytewise(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }

    /// <summary>A write-only stream that wraps what is written in IDAT chunks of at most 64 KiB.</summary>
    private sealed class IdatStream(Stream destination, bool fastCrc) : WriteOnlyStream
    {
        private readonly byte[] _buffer = new byte[IdatChunkBytes];
        private int _count;

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (buffer.Length > 0)
            {
                var take = Math.Min(buffer.Length, _buffer.Length - _count);
                buffer[..take].CopyTo(_buffer.AsSpan(_count));
                _count += take;
                buffer = buffer[take..];
                if (_count == _buffer.Length)
                {
                    Flush();
                }
            }
        }

        public override void Flush()
        {
            if (_count > 0)
            {
                WriteChunk(destination, "IDAT"u8, _buffer.AsSpan(0, _count), fastCrc);
                _count = 0;
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Flush();
            }

            base.Dispose(disposing);
        }
    }

    /// <summary>A write-only stream kept as 64 KiB pieces (small-object-heap arrays); <see cref="Seal"/> fixes its length.</summary>
    private sealed class PieceBuffer : WriteOnlyStream
    {
        private const int PieceBytes = 1 << 16;
        private readonly List<byte[]> _pieces = [];
        private long _length;
        private long? _sealed;

        public override long Length => _length;

        /// <summary>Whatever is written after this is left out (the final block a disposed deflater adds).</summary>
        public void Seal() => _sealed = _length;

        /// <summary>Writes the pieces out, then returns them to the pool: call once, last.</summary>
        public void WriteTo(Stream destination)
        {
            var left = _sealed ?? _length;
            foreach (var piece in _pieces)
            {
                var take = (int)Math.Min(left, PieceBytes);
                destination.Write(piece, 0, take);
                left -= take;
                if (left == 0)
                {
                    break;
                }
            }

            _pieces.ForEach(piece => System.Buffers.ArrayPool<byte>.Shared.Return(piece));
            _pieces.Clear();
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            while (buffer.Length > 0)
            {
                var at = (int)(_length % PieceBytes);
                if (at == 0)
                {
                    _pieces.Add(System.Buffers.ArrayPool<byte>.Shared.Rent(PieceBytes)); // pooled: a grid's PNG is ~90 pieces
                }

                var take = Math.Min(buffer.Length, PieceBytes - at);
                buffer[..take].CopyTo(_pieces[^1].AsSpan(at));
                _length += take;
                buffer = buffer[take..];
            }
        }

        public override void Flush()
        {
        }
    }
}

/// <summary>
/// Adler-32 as zlib defines it, with zlib's adler32_combine: hand-written because the BCL computes it only inside its
/// zlib streams and no served package exposes it; the parallel PNG bands need each band's checksum, then the whole's.
/// </summary>
internal static class Adler32
{
    private const uint Base = 65521;

    /// <summary>The largest run of bytes whose sums cannot overflow 32 bits before the modulo.</summary>
    private const int MaxRun = 5552;

    public static uint Update(uint adler, ReadOnlySpan<byte> data)
    {
        uint a = adler & 0xFFFF, b = adler >> 16;
        if (Vector128.IsHardwareAccelerated)
        {
            // 16 bytes a step. Over a run of m blocks with byte sums S_k: a grows by the sum of all bytes, and b by
            // 16*m*a + 16*sum_k(sum_{j<k} S_j) + sum of each byte times (16 - its place in its block).
            var high = Vector128.Create((ushort)16, 15, 14, 13, 12, 11, 10, 9);
            var low = Vector128.Create((ushort)8, 7, 6, 5, 4, 3, 2, 1);
            while (data.Length >= 16)
            {
                var blocks = Math.Min(data.Length / 16, MaxRun / 16);
                Vector128<uint> sums = default, previous = default, weighted = default;
                for (var k = 0; k < blocks; k++)
                {
                    var bytes = Vector128.Create(data.Slice(k * 16, 16));
                    previous += sums;
                    var (first, second) = Vector128.Widen(bytes);
                    var (s1, s2) = Vector128.Widen(first + second);
                    sums += s1 + s2;
                    var (w1, w2) = Vector128.Widen((first * high) + (second * low));
                    weighted += w1 + w2;
                }

                b = (uint)((b + ((ulong)blocks * 16 * a) + (16UL * Vector128.Sum(previous)) + Vector128.Sum(weighted)) % Base);
                a = (a + Vector128.Sum(sums)) % Base;
                data = data[(blocks * 16)..];
            }
        }

        while (data.Length > 0)
        {
            var run = data[..Math.Min(data.Length, MaxRun)];
            foreach (var value in run)
            {
                a += value;
                b += a;
            }

            a %= Base;
            b %= Base;
            data = data[run.Length..];
        }

        return (b << 16) | a;
    }

    /// <summary>The Adler-32 of A followed by B, from A's, B's and B's length.</summary>
    public static uint Combine(uint first, uint second, long secondLength)
    {
        var remainder = (ulong)(secondLength % Base);
        ulong sum1 = first & 0xFFFF;
        var sum2 = remainder * sum1 % Base;
        sum1 += (second & 0xFFFF) + Base - 1;
        sum2 += (first >> 16) + (second >> 16) + Base - remainder;
        if (sum1 >= Base)
        {
            sum1 -= Base;
        }

        if (sum1 >= Base)
        {
            sum1 -= Base;
        }

        if (sum2 >= Base << 1)
        {
            sum2 -= Base << 1;
        }

        if (sum2 >= Base)
        {
            sum2 -= Base;
        }

        return (uint)((sum2 << 16) | sum1);
    }
}
