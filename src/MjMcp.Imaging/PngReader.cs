using System.Buffers.Binary;
using System.IO.Compression;

namespace MjMcp.Imaging;

/// <summary>
/// Reads the rows of an 8-bit RGB or RGBA PNG that is not interlaced, one at a time: the IDAT chunks are read from the
/// source stream as the inflater (the BCL's native zlib) asks for them, so neither the compressed data nor the whole
/// image is held unless the caller keeps the rows. Hand-written because no served decoder reads a PNG row by row
/// (StbImageSharp inflates everything at once; SkiaSharp is a native dependency, see shared/reference/images.md).
/// </summary>
internal sealed class PngReader : IDisposable
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private readonly ZLibStream _inflater;
    private readonly byte[] _chunk;
    private readonly int _rowBytes;
    private readonly int _rowsPerChunk;
    private int _rowsInChunk;
    private int _nextSlot = 1;
    private int _lastRow;
    private int _rowsRead;

    private PngReader(Stream source, int width, int height, int channels)
    {
        Width = width;
        Height = height;
        Channels = channels;

        // Rows are inflated several at a time (about 64 KiB: one call into zlib per chunk, not per row) into slots of a
        // filter byte and the row; slot 0 holds the row above the chunk's first (zeros above the image's first row),
        // and 16 bytes are spare at the end (PngRows.ExpandRgb reads 16 bytes per 12 it uses).
        _rowBytes = 1 + (width * channels);
        _rowsPerChunk = Math.Max(1, (64 << 10) / _rowBytes);
        _chunk = new byte[((_rowsPerChunk + 1) * _rowBytes) + 16];
        _inflater = new ZLibStream(new IdatReadStream(source), CompressionMode.Decompress);
    }

    public int Width { get; }

    public int Height { get; }

    /// <summary>3 (RGB) or 4 (RGBA).</summary>
    public int Channels { get; }

    /// <summary>
    /// A reader for this PNG, or null when it is not one this reader covers (not a PNG, not 8-bit RGB/RGBA, interlaced,
    /// larger than <see cref="RgbaImage.MaxSide"/>). The stream is read from its current position.
    /// </summary>
    public static PngReader? TryOpen(Stream source)
    {
        Span<byte> head = stackalloc byte[33];
        if (source.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length || !head[..8].SequenceEqual(Signature) || !head.Slice(12, 4).SequenceEqual("IHDR"u8))
        {
            return null;
        }

        var width = BinaryPrimitives.ReadInt32BigEndian(head[16..]);
        var height = BinaryPrimitives.ReadInt32BigEndian(head[20..]);
        int depth = head[24], color = head[25], interlace = head[28];
        if (BinaryPrimitives.ReadInt32BigEndian(head[8..]) != 13 || depth != 8 || color is not (2 or 6) || interlace != 0
            || width < 1 || height < 1 || width > RgbaImage.MaxSide || height > RgbaImage.MaxSide)
        {
            return null;
        }

        return new PngReader(source, width, height, color == 6 ? 4 : 3);
    }

    /// <summary>The next row, unfiltered, in the PNG's channels (valid until the next call).</summary>
    public ReadOnlySpan<byte> ReadRow()
    {
        if (_rowsRead >= Height)
        {
            throw new InvalidOperationException("Every row has been read.");
        }

        if (_nextSlot > _rowsInChunk)
        {
            if (_rowsInChunk > 0)
            {
                _chunk.AsSpan(_rowsInChunk * _rowBytes, _rowBytes).CopyTo(_chunk); // the last row is the next one's above
            }

            _rowsInChunk = Math.Min(_rowsPerChunk, Height - _rowsRead);
            _nextSlot = 1;
            try
            {
                _inflater.ReadExactly(_chunk.AsSpan(_rowBytes, _rowsInChunk * _rowBytes));
            }
            catch (EndOfStreamException ex)
            {
                throw new InvalidDataException("The PNG's image data ends early.", ex);
            }
        }

        var at = _nextSlot * _rowBytes;
        var stride = _rowBytes - 1;
        var row = _chunk.AsSpan(at + 1, stride);
        PngRows.Unfilter(_chunk[at], row, _chunk.AsSpan(at - _rowBytes + 1, stride), Channels);
        _nextSlot++;
        _rowsRead++;
        _lastRow = at + 1;
        return row;
    }

    /// <summary>Every row into a new RGBA image (its array from <see cref="PixelPool"/>: every pixel is written).</summary>
    public RgbaImage ReadImage()
    {
        using (this)
        {
            var image = PixelPool.Rent(Width, Height);
            var rowBytes = Width * 4;
            for (var y = 0; y < Height; y++)
            {
                var row = ReadRow();
                var target = image.Pixels.AsSpan(y * rowBytes, rowBytes);
                if (Channels == 4)
                {
                    row.CopyTo(target);
                }
                else
                {
                    PngRows.ExpandRgb(_chunk.AsSpan(_lastRow), Width, target);
                }
            }

            Finish();
            return image;
        }
    }

    /// <summary>
    /// Reads to the end of the image data, so zlib checks its Adler-32 and a truncated file is noticed: throws
    /// <see cref="InvalidDataException"/> for broken data.
    /// </summary>
    public void Finish()
    {
        Span<byte> rest = stackalloc byte[64];
        while (_inflater.Read(rest) > 0)
        {
        }
    }

    public void Dispose() => _inflater.Dispose();

    /// <summary>The payloads of the IDAT chunks, one after another, read from the PNG's chunk stream as they are asked for.</summary>
    private sealed class IdatReadStream(Stream source) : Stream
    {
        private int _left;
        private bool _ended;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (_left == 0)
            {
                if (_ended || !NextIdat())
                {
                    return 0;
                }
            }

            var read = source.Read(buffer[..Math.Min(buffer.Length, _left)]);
            if (read == 0)
            {
                throw new InvalidDataException("The PNG is truncated.");
            }

            _left -= read;
            if (_left == 0)
            {
                Skip(4); // CRC
            }

            return read;
        }

        /// <summary>Moves to the next IDAT's payload, skipping other chunks; false after IEND.</summary>
        private bool NextIdat()
        {
            Span<byte> head = stackalloc byte[8];
            while (true)
            {
                if (source.ReadAtLeast(head, 8, throwOnEndOfStream: false) < 8)
                {
                    throw new InvalidDataException("The PNG is truncated.");
                }

                var length = BinaryPrimitives.ReadInt32BigEndian(head);
                if (length < 0)
                {
                    throw new InvalidDataException("The PNG has a chunk of negative length.");
                }

                var type = head[4..];
                if (type.SequenceEqual("IDAT"u8))
                {
                    _left = length;
                    if (length == 0)
                    {
                        Skip(4);
                        continue;
                    }

                    return true;
                }

                if (type.SequenceEqual("IEND"u8))
                {
                    _ended = true;
                    return false;
                }

                Skip(length + 4L);
            }
        }

        private void Skip(long count)
        {
            if (source.CanSeek)
            {
                if (source.Position + count > source.Length)
                {
                    throw new InvalidDataException("The PNG is truncated.");
                }

                source.Seek(count, SeekOrigin.Current);
                return;
            }

            Span<byte> scratch = stackalloc byte[256];
            while (count > 0)
            {
                var read = source.Read(scratch[..(int)Math.Min(count, scratch.Length)]);
                if (read == 0)
                {
                    throw new InvalidDataException("The PNG is truncated.");
                }

                count -= read;
            }
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
