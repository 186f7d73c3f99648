using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Numerics;

namespace MjMcp.Imaging;

/// <summary>
/// A candidate's row drawn several pixels at a time (the render's hot loop; see <see cref="Pictures.CandidateInto"/>).
/// Hand-written: no served library draws this picture. Every lane does exactly the scalar loop's float operations in
/// the same order (IEEE single precision, no fused multiply-add: the JIT never contracts), a shape is blended where
/// d2 &lt; 1 by a lane mask instead of a branch, and the noise hash uses the same 32-bit integer arithmetic, so the
/// pixels are bit-identical to the scalar loop's (FastPathTests checks it against the loop before issue 11).
/// Written on <see cref="Vector{T}"/>, whose width is the machine's: 8 lanes with AVX2 under the JIT, 4 in a NativeAOT
/// binary (compiled for x86-64-v2 by default: its Vector256 is not accelerated, and Vector256 code would fall back to
/// element-by-element software).
/// </summary>
internal static class CandidateRows
{
    /// <summary>Vectors in hardware, at least 4 floats wide, on a little-endian machine (a pixel is stored as one uint).</summary>
    public static bool Accelerated => Vector.IsHardwareAccelerated && Vector<float>.Count >= 4 && Vector<float>.Count == Vector<uint>.Count && BitConverter.IsLittleEndian;

    /// <summary>
    /// Draws whole blocks of <see cref="Vector{T}.Count"/> pixels of row <paramref name="y"/> from column 0; returns the
    /// first column left for the scalar loop (0 when not <see cref="Accelerated"/>).
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
        var lanes = Vector<float>.Count;
        if (!Accelerated || width < 2 || width < lanes)
        {
            return 0;
        }

        var output = MemoryMarshal.Cast<byte, uint>(row[..(width * 4)]);
        var lane = Vector<float>.Indices;
        var laneIndex = Vector<uint>.Indices;
        var sideScale = new Vector<float>(0.35f);
        var lastColumn = new Vector<float>(width - 1);
        var (baseR, baseG, baseB) = (new Vector<float>(baseColor.R), new Vector<float>(baseColor.G), new Vector<float>(baseColor.B));

        // Lerp(a, b, s) = a + ((b - a) * s): (b - a) is the same scalar for the whole row.
        var (toSideR, toSideG, toSideB) = (new Vector<float>(side.R - baseColor.R), new Vector<float>(side.G - baseColor.G), new Vector<float>(side.B - baseColor.B));
        var one = Vector<float>.One;
        var strength = new Vector<float>(0.85f);

        // Pictures.Mix: (x * A) ^ (y * B) ^ (salt * C); xor is associative, so the part without x is made once a row.
        var rowHash = new Vector<uint>(((uint)y * 0xD8163841u) ^ (grain * 0xCB1AB31Fu));
        var x = 0;
        for (; x + lanes <= width; x += lanes)
        {
            var xs = new Vector<float>(x) + lane;
            var s = sideScale * xs / lastColumn;
            var r = baseR + (toSideR * s);
            var g = baseG + (toSideG * s);
            var b = baseB + (toSideB * s);
            foreach (var (k, from, to) in active)
            {
                if (x + lanes - 1 < from || x > to)
                {
                    continue;
                }

                var shape = shapes[k];
                var dy = y - shape.Y;
                var dx = xs - new Vector<float>(shape.X);
                var d2 = ((dx * dx) + new Vector<float>(dy * dy)) / new Vector<float>(shape.R2);
                var inside = Vector.LessThan(d2, one);
                if (inside == Vector<int>.Zero)
                {
                    continue;
                }

                var rest = one - d2;
                var alpha = rest * rest * strength;
                r = Vector.ConditionalSelect(inside, r + ((new Vector<float>(shape.Cr) - r) * alpha), r);
                g = Vector.ConditionalSelect(inside, g + ((new Vector<float>(shape.Cg) - g) * alpha), g);
                b = Vector.ConditionalSelect(inside, b + ((new Vector<float>(shape.Cb) - b) * alpha), b);
            }

            var h = ((new Vector<uint>((uint)x) + laneIndex) * 0x8DA6B343u) ^ rowHash;
            h ^= h >>> 13;
            h *= 0x5BD1E995u;
            h ^= h >>> 15;
            var noise = Vector.ConvertToSingle(Vector.AsVectorInt32(Mod7(h)) - new Vector<int>(3));
            var pixel = Channel(r + noise) | (Channel(g + noise) << 8) | (Channel(b + noise) << 16) | new Vector<uint>(0xFF000000u);
            pixel.CopyTo(output[x..]);
        }

        return x;
    }

    /// <summary>
    /// <see cref="Pictures.Clamp"/> per lane: v &lt;= 0 → 0, v &gt;= 255 → 255, else (int)(v + 0.5f) (truncation).
    /// Truncating v + 0.5f and then clamping to 0..255 gives exactly that for every v.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<uint> Channel(Vector<float> value) =>
        Vector.AsVectorUInt32(Vector.Min(Vector.Max(Vector.ConvertToInt32(value + new Vector<float>(0.5f)), Vector<int>.Zero), new Vector<int>(255)));

    /// <summary>
    /// h mod 7 per lane without a division (vectors have none): 2^3 ≡ 1 (mod 7), so 2^30, 2^15, 2^9, 2^6 and 2^3 are
    /// ≡ 1 too, and folding the high bits onto the low ones keeps the value mod 7 while it shrinks to at most 9.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector<uint> Mod7(Vector<uint> h)
    {
        var t = (h >>> 30) + (h & new Vector<uint>(0x3FFFFFFFu)); // < 2^30 + 4
        t = (t >>> 15) + (t & new Vector<uint>(0x7FFFu)); // <= 65535
        t = (t >>> 9) + (t & new Vector<uint>(0x1FFu)); // <= 638
        t = (t >>> 6) + (t & new Vector<uint>(0x3Fu)); // <= 72
        t = (t >>> 3) + (t & new Vector<uint>(7u)); // <= 16
        t = (t >>> 3) + (t & new Vector<uint>(7u)); // <= 9
        return t - (Vector.GreaterThanOrEqual(t, new Vector<uint>(7u)) & new Vector<uint>(7u));
    }
}
