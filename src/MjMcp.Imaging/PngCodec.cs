using System.Buffers.Binary;
using System.IO.Compression;
using StbImageSharp;

namespace MjMcp.Imaging;

/// <summary>
/// PNG encoding (hand-written: signature, IHDR, IDAT over the BCL's ZLibStream with the Up filter, IEND,
/// CRC-32 — no served package encodes PNG well enough, see shared/reference/images.md) and decoding of
/// PNG, JPEG and the other formats StbImageSharp reads.
/// </summary>
public static class PngCodec
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly uint[] CrcTable = MakeCrcTable();

    /// <summary>IDAT chunks are cut at this size while the compressor writes (the whole IDAT is never held).</summary>
    private const int IdatChunkBytes = 1 << 16;

    /// <summary>Encodes as a PNG: RGB when every pixel is opaque (a quarter less to compress), RGBA otherwise.</summary>
    public static byte[] Encode(RgbaImage image)
    {
        using var stream = new MemoryStream();
        Encode(image, stream);
        return stream.ToArray();
    }

    /// <summary>
    /// Encodes as a PNG into <paramref name="destination"/>, streaming: the compressed data goes out in 64 KiB IDAT
    /// chunks as it is made, so encoding holds two rows and one chunk, never the whole file. RGB when every pixel is
    /// opaque, RGBA otherwise; filter Sub on the first row and Up below (smooth pictures compress far better);
    /// zlib at its fastest level (see shared/reference/images.md: encoding dominates a render).
    /// </summary>
    public static void Encode(RgbaImage image, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(destination);
        var opaque = IsOpaque(image.Pixels);
        var channels = opaque ? 3 : 4;
        destination.Write(Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], image.Height);
        header[8] = 8; // bit depth
        header[9] = (byte)(opaque ? 2 : 6); // RGB or RGBA
        header[10] = header[11] = header[12] = 0;
        WriteChunk(destination, "IHDR"u8, header);

        var stride = image.Width * channels;
        using (var idat = new IdatStream(destination))
        using (var zlib = new ZLibStream(idat, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[stride + 1];
            var previous = new byte[stride];
            var current = new byte[stride];
            var pixels = image.Pixels;
            for (var y = 0; y < image.Height; y++)
            {
                var source = pixels.AsSpan(y * image.Width * 4, image.Width * 4);
                if (opaque)
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

        WriteChunk(destination, "IEND"u8, []);
    }

    private static bool IsOpaque(byte[] pixels)
    {
        for (var i = 3; i < pixels.Length; i += 4)
        {
            if (pixels[i] != 255)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Decodes an image file (read as a stream: no copy of the whole file is made first).</summary>
    public static RgbaImage DecodeFile(string path)
    {
        using var stream = File.OpenRead(path);
        var (width, height) = ReadSize(stream);
        if (width > RgbaImage.MaxSide || height > RgbaImage.MaxSide)
        {
            throw new InvalidDataException($"The image is {width}x{height}; at most {RgbaImage.MaxSide} px a side is accepted.");
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
        var info = ImageInfo.FromStream(stream) ?? throw new InvalidDataException("The data is not an image (PNG, JPEG, BMP, GIF, TGA, PSD or HDR).");
        return (info.Width, info.Height);
    }

    /// <summary>Decodes an image; throws <see cref="InvalidDataException"/> for anything that is not a readable image of at most 8192 px a side.</summary>
    public static RgbaImage Decode(ReadOnlySpan<byte> data)
    {
        var (width, height) = ReadSize(data);
        if (width > RgbaImage.MaxSide || height > RgbaImage.MaxSide)
        {
            throw new InvalidDataException($"The image is {width}x{height}; at most {RgbaImage.MaxSide} px a side is accepted.");
        }

        try
        {
            var result = ImageResult.FromMemory(data.ToArray(), ColorComponents.RedGreenBlueAlpha);
            return new RgbaImage(result.Width, result.Height, result.Data);
        }
        catch (Exception ex) when (ex is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException("The image data could not be decoded: " + ex.Message, ex);
        }
    }

    /// <summary>The size from the header, without decoding pixels.</summary>
    public static (int Width, int Height) ReadSize(ReadOnlySpan<byte> data)
    {
        if (data.Length >= 24 && data[..8].SequenceEqual(Signature))
        {
            return (BinaryPrimitives.ReadInt32BigEndian(data[16..]), BinaryPrimitives.ReadInt32BigEndian(data[20..]));
        }

        try
        {
            using var stream = new MemoryStream(data.ToArray());
            var info = ImageInfo.FromStream(stream) ?? throw new InvalidDataException("The data is not an image (PNG, JPEG, BMP, GIF, TGA, PSD or HDR).");
            return (info.Width, info.Height);
        }
        catch (Exception ex) when (ex is not InvalidDataException and not OutOfMemoryException)
        {
            throw new InvalidDataException("The data is not a readable image: " + ex.Message, ex);
        }
    }

    private static void WriteChunk(Stream stream, ReadOnlySpan<byte> type, ReadOnlySpan<byte> data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        stream.Write(type);
        stream.Write(data);
        var crc = Crc(Crc(0xFFFFFFFFu, type), data) ^ 0xFFFFFFFFu;
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        }

        return crc;
    }

    private static uint[] MakeCrcTable()
    {
        var table = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            var c = n;
            for (var k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }

            table[n] = c;
        }

        return table;
    }

    /// <summary>A write-only stream that wraps what is written in IDAT chunks of at most 64 KiB.</summary>
    private sealed class IdatStream(Stream destination) : Stream
    {
        private readonly byte[] _buffer = new byte[IdatChunkBytes];
        private int _count;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

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
                WriteChunk(destination, "IDAT"u8, _buffer.AsSpan(0, _count));
                _count = 0;
            }
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                Flush();
            }

            base.Dispose(disposing);
        }
    }
}
