using System.Buffers.Binary;
using System.IO.Compression;
using MjMcp.Imaging;

namespace MjMcp.TestSupport;

/// <summary>Hand-made PNGs for decoder tests, written without the product's encoder (shared by the test projects).</summary>
internal static class TestPngs
{
    /// <summary>
    /// An 8-bit RGB or RGBA PNG whose rows use the five filters in turn, in two IDAT chunks with a tEXt chunk between
    /// them, so a decoder meets every filter, joins split data and skips an ancillary chunk.
    /// </summary>
    public static byte[] Filtered(RgbaImage image, int channels)
    {
        var stride = image.Width * channels;
        var raw = new byte[image.Height * (stride + 1)];
        var previous = new byte[stride];
        var row = new byte[stride];
        for (var y = 0; y < image.Height; y++)
        {
            for (var x = 0; x < image.Width; x++)
            {
                for (var c = 0; c < channels; c++)
                {
                    row[(x * channels) + c] = image.Pixels[(((y * image.Width) + x) * 4) + c];
                }
            }

            var filter = y % 5;
            var o = y * (stride + 1);
            raw[o] = (byte)filter;
            for (var i = 0; i < stride; i++)
            {
                int a = i >= channels ? row[i - channels] : 0, b = previous[i], c = i >= channels ? previous[i - channels] : 0;
                int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                var predicted = filter switch { 0 => 0, 1 => a, 2 => b, 3 => (a + b) >> 1, _ => pa <= pb && pa <= pc ? a : pb <= pc ? b : c };
                raw[o + 1 + i] = (byte)(row[i] - predicted);
            }

            (previous, row) = (row, previous);
        }

        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            z.Write(raw);
        }

        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, image.Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), image.Height);
        header[8] = 8;
        header[9] = (byte)(channels == 4 ? 6 : 2);
        Chunk(png, "IHDR", header);

        // Two IDAT chunks around another chunk: the reader must join them and skip it.
        var data = compressed.ToArray();
        Chunk(png, "IDAT", data[..(data.Length / 2)]);
        Chunk(png, "tEXt", "Comment\0split"u8.ToArray());
        Chunk(png, "IDAT", data[(data.Length / 2)..]);
        Chunk(png, "IEND", []);
        return png.ToArray();

        static void Chunk(Stream s, string type, byte[] body)
        {
            var length = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(length, body.Length);
            s.Write(length);
            var typed = System.Text.Encoding.ASCII.GetBytes(type).Concat(body).ToArray();
            s.Write(typed);
            var crc = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(typed));
            s.Write(crc);
        }

        static uint Crc32(byte[] bytes)
        {
            var crc = 0xFFFFFFFFu;
            foreach (var b in bytes)
            {
                crc ^= b;
                for (var k = 0; k < 8; k++)
                {
                    crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
                }
            }

            return ~crc;
        }
    }
}
