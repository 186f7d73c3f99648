using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace MjMcp.Imaging;

/// <summary>
/// Raw deflate (RFC 1951) of literals only: the data is cut into blocks of about 64 KiB, and each block gets its own
/// Huffman code from its byte counts (a dynamic block, no string matching). Filtered picture rows are mostly small
/// differences, which a per-block code packs about as well as zlib's fastest level (smaller here: the sandbox's noisy
/// pictures give LZ matching little to find) at a fraction of its time: one table look-up per byte.
/// Hand-written because the BCL's zlib-ng, even with <c>ZLibCompressionStrategy.HuffmanOnly</c>, spends about as long
/// as at level 1, and no served package offers a faster deflate (bench section d measures both).
/// <see cref="Finish"/> ends the stream (and returns its buffers: nothing may be written after it): final, or (for a band of a stream made in parallel) with an empty stored block
/// that leaves it byte-aligned and open, like zlib's sync flush.
/// </summary>
internal sealed class LiteralDeflate(Stream output) : WriteOnlyStream
{
    private const int BlockBytes = 1 << 16;
    private const int Symbols = 257; // 0..255 literals, 256 end of block
    private const int MaxBits = 15;

    /// <summary>The order in which the code-length code's lengths are sent (RFC 1951, 3.2.7).</summary>
    private static readonly byte[] CodeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

    // Pooled (each would otherwise be a fresh, zeroed array per band and image; the output one on the large object heap).
    private readonly byte[] _block = ArrayPool<byte>.Shared.Rent(BlockBytes);
    private readonly byte[] _out = ArrayPool<byte>.Shared.Rent((BlockBytes * 2) + 64); // a block at the longest code (15 bits a byte) fits
    private readonly int[] _counts = new int[Symbols];
    private readonly byte[] _lengths = new byte[Symbols];
    private readonly uint[] _codes = new uint[Symbols]; // bit-reversed code | length << 16
    private int _filled;
    private int _written;
    private ulong _bits;
    private int _bitCount;

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (buffer.Length > 0)
        {
            var take = Math.Min(buffer.Length, BlockBytes - _filled); // _block may be longer than asked (pooled)
            buffer[..take].CopyTo(_block.AsSpan(_filled));
            _filled += take;
            buffer = buffer[take..];
            if (_filled == BlockBytes)
            {
                WriteBlock(_block);
                _filled = 0;
            }
        }
    }

    /// <summary>Writes what is left and ends the stream: final, or byte-aligned and open for the next part.</summary>
    public void Finish(bool final)
    {
        if (_filled > 0)
        {
            WriteBlock(_block.AsSpan(0, _filled));
            _filled = 0;
        }

        if (final)
        {
            Bits(1, 1); // BFINAL
            Bits(1, 2); // fixed Huffman codes
            Bits(0, 7); // end of block (code 256 is seven zero bits)
            Align();
        }
        else
        {
            Bits(0, 1);
            Bits(0, 2); // stored
            Align();
            Bits(0xFFFF0000u, 32); // LEN 0, NLEN 0xFFFF
        }

        FlushOutput();
        ArrayPool<byte>.Shared.Return(_block);
        ArrayPool<byte>.Shared.Return(_out);
    }

    public override void Flush()
    {
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the hot loop: optimised from its first call, not after tiering
    private void WriteBlock(ReadOnlySpan<byte> data)
    {
        // Four partial counts: runs of one value (common in filtered rows) would otherwise wait on the same counter.
        Span<int> partial = stackalloc int[4 * 256];
        var i = 0;
        for (; i + 4 <= data.Length; i += 4)
        {
            partial[data[i]]++;
            partial[256 + data[i + 1]]++;
            partial[512 + data[i + 2]]++;
            partial[768 + data[i + 3]]++;
        }

        for (; i < data.Length; i++)
        {
            partial[data[i]]++;
        }

        var counts = _counts;
        for (var v = 0; v < 256; v++)
        {
            counts[v] = partial[v] + partial[256 + v] + partial[512 + v] + partial[768 + v];
        }

        counts[256] = 1;
        HuffmanLengths(_counts, _lengths);
        CanonicalCodes(_lengths, _codes);

        // Header: not final, dynamic codes; 257 literal/length codes, 1 distance code, all 19 code-length codes.
        Bits(0, 1);
        Bits(2, 2);
        Bits(0, 5);
        Bits(0, 5);
        Bits(15, 4);

        // The code-length code: lengths 0..15 get 4 bits each (a complete code: symbol n is n), 16–18 are unused.
        foreach (var symbol in CodeLengthOrder)
        {
            Bits(symbol < 16 ? 4u : 0u, 3);
        }

        foreach (var length in _lengths)
        {
            Bits(Reverse(length, 4), 4);
        }

        Bits(0, 4); // the one distance code has no bits: no distances are used (RFC 1951, 3.2.7)

        // Room for the whole block at the longest code first, so the loop below never checks for space.
        if (_out.Length - _written < (data.Length * MaxBits / 8) + 16)
        {
            FlushOutput();
        }

        ReadOnlySpan<uint> codes = _codes.AsSpan(0, 256);
        var output = _out.AsSpan();
        var written = _written;
        var bits = _bits;
        var count = _bitCount;
        // Three codes (at most 45 bits) onto at most 7 pending bits, then every whole byte out at once: no branch.
        var i3 = 0;
        for (; i3 + 3 <= data.Length; i3 += 3)
        {
            var c0 = codes[data[i3]];
            var c1 = codes[data[i3 + 1]];
            var c2 = codes[data[i3 + 2]];
            bits |= (ulong)(c0 & 0xFFFF) << count;
            count += (int)(c0 >> 16);
            bits |= (ulong)(c1 & 0xFFFF) << count;
            count += (int)(c1 >> 16);
            bits |= (ulong)(c2 & 0xFFFF) << count;
            count += (int)(c2 >> 16);
            BinaryPrimitives.WriteUInt64LittleEndian(output[written..], bits);
            written += count >> 3;
            bits >>= count & ~7;
            count &= 7;
        }

        for (; i3 < data.Length; i3++)
        {
            var code = codes[data[i3]];
            bits |= (ulong)(code & 0xFFFF) << count;
            count += (int)(code >> 16);
            BinaryPrimitives.WriteUInt64LittleEndian(output[written..], bits);
            written += count >> 3;
            bits >>= count & ~7;
            count &= 7;
        }

        _written = written;
        _bits = bits;
        _bitCount = count;
        var end = _codes[256];
        Bits(end & 0xFFFF, (int)(end >> 16));
    }

    private void Bits(uint value, int count)
    {
        _bits |= (ulong)value << _bitCount;
        _bitCount += count;
        while (_bitCount >= 8)
        {
            if (_written == _out.Length)
            {
                FlushOutput();
            }

            _out[_written++] = (byte)_bits;
            _bits >>= 8;
            _bitCount -= 8;
        }
    }

    private void Align()
    {
        if (_bitCount > 0)
        {
            Bits(0, 8 - _bitCount);
        }
    }

    private void FlushOutput()
    {
        output.Write(_out, 0, _written);
        _written = 0;
    }

    /// <summary>
    /// Huffman code lengths of at most <see cref="MaxBits"/> for the symbols counted (0 for those never seen). Over the
    /// limit, the counts are halved (a seen symbol keeps at least 1) and the code built again: rare in practice, and it
    /// ends, since equal counts give lengths of at most 9.
    /// </summary>
    internal static void HuffmanLengths(int[] counts, byte[] lengths)
    {
        var weights = (int[])counts.Clone();
        if (weights.Count(w => w > 0) < 2)
        {
            // Deflate needs two codes to make a complete code: a lone symbol gets a partner.
            weights[weights[0] > 0 ? 1 : 0] = 1;
        }

        var parent = new int[Symbols * 2];
        while (true)
        {
            var queue = new PriorityQueue<int, (long Weight, int Order)>();
            var next = Symbols;
            for (var s = 0; s < Symbols; s++)
            {
                if (weights[s] > 0)
                {
                    queue.Enqueue(s, (weights[s], s));
                }
            }

            while (queue.Count > 1)
            {
                queue.TryDequeue(out var a, out var wa);
                queue.TryDequeue(out var b, out var wb);
                parent[a] = parent[b] = next;
                queue.Enqueue(next, (wa.Weight + wb.Weight, next));
                next++;
            }

            var root = next - 1;
            var longest = 0;
            for (var s = 0; s < Symbols; s++)
            {
                var depth = 0;
                if (weights[s] > 0)
                {
                    for (var node = s; node != root; node = parent[node])
                    {
                        depth++;
                    }
                }

                lengths[s] = (byte)depth;
                longest = Math.Max(longest, depth);
            }

            if (longest <= MaxBits)
            {
                return;
            }

            for (var s = 0; s < Symbols; s++)
            {
                weights[s] = weights[s] > 0 ? Math.Max(1, weights[s] >> 1) : 0;
            }
        }
    }

    /// <summary>Canonical codes from the lengths (RFC 1951, 3.2.2), bit-reversed for the LSB-first stream, with the length in the high half.</summary>
    private static void CanonicalCodes(byte[] lengths, uint[] codes)
    {
        Span<int> perLength = stackalloc int[MaxBits + 1];
        foreach (var length in lengths)
        {
            perLength[length]++;
        }

        perLength[0] = 0;
        Span<int> next = stackalloc int[MaxBits + 1];
        var code = 0;
        for (var bits = 1; bits <= MaxBits; bits++)
        {
            code = (code + perLength[bits - 1]) << 1;
            next[bits] = code;
        }

        for (var s = 0; s < lengths.Length; s++)
        {
            var length = lengths[s];
            codes[s] = length == 0 ? 0 : Reverse((uint)next[length]++, length) | ((uint)length << 16);
        }
    }

    private static uint Reverse(uint value, int bits)
    {
        var reversed = 0u;
        for (var i = 0; i < bits; i++)
        {
            reversed = (reversed << 1) | ((value >> i) & 1);
        }

        return reversed;
    }
}
