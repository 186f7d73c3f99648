using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace MjMcp.Imaging;

/// <summary>
/// A candidate's row drawn eight pixels at a time (the render's hot loop; see <see cref="Pictures.CandidateInto"/>).
/// Hand-written: no served library draws this picture. Every lane does exactly the scalar loop's float operations in
/// the same order (IEEE single precision, no fused multiply-add: the JIT never contracts), a shape is blended where
/// d2 &lt; 1 by a lane mask instead of a branch, and the noise hash uses the same 32-bit integer arithmetic, so the
/// pixels are bit-identical to the scalar loop's (FastPathTests checks it against the loop before issue 11).
/// </summary>
internal static class CandidateRows
{
    /// <summary>8-lane vectors in hardware (AVX2) and a little-endian machine (a pixel is stored as one uint).</summary>
    public static bool Accelerated => Vector256.IsHardwareAccelerated && BitConverter.IsLittleEndian;

    /// <summary>
    /// Draws whole blocks of eight pixels of row <paramref name="y"/> from column 0; returns the first column left for the
    /// scalar loop (0 when not <see cref="Accelerated"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // the hot loop: optimised from its first call, not after tiering
    public static int Draw(
        Span<byte> row,
        int y,
        int width,
        (float R, float G, float B) baseColor,
        (byte R, byte G, byte B) side,
        ReadOnlySpan<(float X, float Y, float R2, float Cr, float Cg, float Cb)> shapes,
        ReadOnlySpan<(int Shape, int From, int To)> active,
        uint grain)
    {
        const int Lanes = 8;
        if (!Accelerated || width < 2 || width < Lanes)
        {
            return 0;
        }

        var output = MemoryMarshal.Cast<byte, uint>(row[..(width * 4)]);
        var lane = Vector256.Create(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f);
        var laneIndex = Vector256.Create(0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u);
        var sideScale = Vector256.Create(0.35f);
        var lastColumn = Vector256.Create((float)(width - 1));
        var (baseR, baseG, baseB) = (Vector256.Create(baseColor.R), Vector256.Create(baseColor.G), Vector256.Create(baseColor.B));

        // Lerp(a, b, s) = a + ((b - a) * s): (b - a) is the same scalar for the whole row.
        var (toSideR, toSideG, toSideB) = (Vector256.Create(side.R - baseColor.R), Vector256.Create(side.G - baseColor.G), Vector256.Create(side.B - baseColor.B));
        var one = Vector256<float>.One;
        var strength = Vector256.Create(0.85f);

        // Pictures.Mix: (x * A) ^ (y * B) ^ (salt * C); xor is associative, so the part without x is made once a row.
        var rowHash = Vector256.Create(((uint)y * 0xD8163841u) ^ (grain * 0xCB1AB31Fu));
        var x = 0;
        for (; x + Lanes <= width; x += Lanes)
        {
            var xs = Vector256.Create((float)x) + lane;
            var s = sideScale * xs / lastColumn;
            var r = baseR + (toSideR * s);
            var g = baseG + (toSideG * s);
            var b = baseB + (toSideB * s);
            foreach (var (k, from, to) in active)
            {
                if (x + Lanes - 1 < from || x > to)
                {
                    continue;
                }

                var shape = shapes[k];
                var dy = y - shape.Y;
                var dx = xs - Vector256.Create(shape.X);
                var d2 = ((dx * dx) + Vector256.Create(dy * dy)) / Vector256.Create(shape.R2);
                var inside = Vector256.LessThan(d2, one);
                if (inside == Vector256<float>.Zero)
                {
                    continue;
                }

                var rest = one - d2;
                var alpha = rest * rest * strength;
                r = Vector256.ConditionalSelect(inside, r + ((Vector256.Create(shape.Cr) - r) * alpha), r);
                g = Vector256.ConditionalSelect(inside, g + ((Vector256.Create(shape.Cg) - g) * alpha), g);
                b = Vector256.ConditionalSelect(inside, b + ((Vector256.Create(shape.Cb) - b) * alpha), b);
            }

            var h = ((Vector256.Create((uint)x) + laneIndex) * 0x8DA6B343u) ^ rowHash;
            h ^= h >> 13;
            h *= 0x5BD1E995u;
            h ^= h >> 15;
            var noise = Vector256.ConvertToSingle(Mod7(h).AsInt32() - Vector256.Create(3));
            var pixel = Channel(r + noise) | (Channel(g + noise) << 8) | (Channel(b + noise) << 16) | Vector256.Create(0xFF000000u);
            pixel.CopyTo(output[x..]);
        }

        return x;
    }

    /// <summary>
    /// <see cref="Pictures.Clamp"/> per lane: v &lt;= 0 → 0, v &gt;= 255 → 255, else (int)(v + 0.5f) (truncation).
    /// Truncating v + 0.5f and then clamping to 0..255 gives exactly that for every v.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Channel(Vector256<float> value) =>
        Vector256.Min(Vector256.Max(Vector256.ConvertToInt32(value + Vector256.Create(0.5f)), Vector256<int>.Zero), Vector256.Create(255)).AsUInt32();

    /// <summary>
    /// h mod 7 per lane without a division (vectors have none): 2^3 ≡ 1 (mod 7), so 2^30, 2^15, 2^9, 2^6 and 2^3 are
    /// ≡ 1 too, and folding the high bits onto the low ones keeps the value mod 7 while it shrinks to at most 9.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> Mod7(Vector256<uint> h)
    {
        var t = (h >> 30) + (h & Vector256.Create(0x3FFFFFFFu)); // < 2^30 + 4
        t = (t >> 15) + (t & Vector256.Create(0x7FFFu)); // <= 65535
        t = (t >> 9) + (t & Vector256.Create(0x1FFu)); // <= 638
        t = (t >> 6) + (t & Vector256.Create(0x3Fu)); // <= 72
        t = (t >> 3) + (t & Vector256.Create(7u)); // <= 16
        t = (t >> 3) + (t & Vector256.Create(7u)); // <= 9
        return t - (Vector256.GreaterThanOrEqual(t, Vector256.Create(7u)) & Vector256.Create(7u));
    }
}
