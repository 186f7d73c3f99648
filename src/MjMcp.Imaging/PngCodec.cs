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

    /// <summary>Encodes as an RGBA PNG.</summary>
    public static byte[] Encode(RgbaImage image)
    {
        using var stream = new MemoryStream();
        Encode(image, stream);
        return stream.ToArray();
    }

    /// <summary>Encodes as an RGBA PNG into <paramref name="destination"/>.</summary>
    public static void Encode(RgbaImage image, Stream destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(destination);
        destination.Write(Signature);
        Span<byte> header = stackalloc byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header[4..], image.Height);
        header[8] = 8; // bit depth
        header[9] = 6; // RGBA
        header[10] = header[11] = header[12] = 0;
        WriteChunk(destination, "IHDR"u8, header);

        var stride = image.Width * 4;
        using var compressed = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            var row = new byte[stride + 1];
            var pixels = image.Pixels;
            for (var y = 0; y < image.Height; y++)
            {
                var offset = y * stride;
                if (y == 0)
                {
                    row[0] = 0; // None
                    Buffer.BlockCopy(pixels, 0, row, 1, stride);
                }
                else
                {
                    row[0] = 2; // Up: smooth pictures compress far better
                    for (var x = 0; x < stride; x++)
                    {
                        row[x + 1] = (byte)(pixels[offset + x] - pixels[offset - stride + x]);
                    }
                }

                zlib.Write(row);
            }
        }

        WriteChunk(destination, "IDAT"u8, compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
        WriteChunk(destination, "IEND"u8, []);
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
}
