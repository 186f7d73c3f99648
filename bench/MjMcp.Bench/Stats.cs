using System.Globalization;

namespace MjMcp.Bench;

/// <summary>Median and spread of a few samples (a handful of rounds: no library needed for a sort and a middle).</summary>
internal static class Stats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>"12.3 (11.9–13.0)": the median and the range.</summary>
    public static string Spread(IReadOnlyList<double> values, string format = "0.0") => values.Count == 0
        ? "–"
        : values.Count == 1
            ? F(values[0], format)
            : $"{F(Median(values), format)} ({F(values.Min(), format)}–{F(values.Max(), format)})";

    public static string F(double value, string format = "0.0") => double.IsNaN(value) ? "–" : value.ToString(format, CultureInfo.InvariantCulture);

    public static string I(long value) => value.ToString(CultureInfo.InvariantCulture);
}
