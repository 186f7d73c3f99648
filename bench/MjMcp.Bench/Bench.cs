using System.Diagnostics;
using System.Globalization;
using System.Text;
using MjMcp.Sandbox;
using static MjMcp.Bench.Stats;

namespace MjMcp.Bench;

/// <summary>Shared settings and helpers of the sections.</summary>
internal static class Bench
{
    public const string SandboxKey = "bench-key";

    /// <summary>The server's default timing ("brisk": 0.5 s queued, 3 s running), used for every sandbox here.</summary>
    public static SandboxTiming Brisk { get; } = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(3));

    private static readonly string Root = Path.Combine(Path.GetTempPath(), "mjmcp-bench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

    public static string TempDir(string name)
    {
        var dir = Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static void Delete(string? dir)
    {
        try
        {
            if (dir is not null && Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        catch (IOException)
        {
            // A process still closing its files: the folder stays in /tmp.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>A sandbox at the real size (1024-px candidates, 2048-px grids) with the server's default timing.</summary>
    public static Task<SandboxServer> StartSandboxAsync() =>
        SandboxServer.StartAsync(new SandboxOptions { ApiKey = SandboxKey, Timing = Brisk, DataDirectory = TempDir("sandbox") });

    /// <summary>Runs <paramref name="count"/> workflows at once; the wall seconds and how many failed.</summary>
    public static async Task<(double Seconds, int Failures)> ConcurrentAsync(IWorkflowDriver driver, int count, int offset)
    {
        var failures = 0;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(offset, count).Select(async i =>
        {
            try
            {
                await driver.RunAsync(i, null);
            }
            catch (Exception ex) when (ex is InvalidOperationException or MjException or HttpRequestException or TimeoutException or IOException or OperationCanceledException or ModelContextProtocol.McpException)
            {
                Interlocked.Increment(ref failures);
                Log($"  {driver.Label}: workflow {i} failed: {ex.Message}");
            }
        }));
        return (clock.Elapsed.TotalSeconds, failures);
    }

    public static void Log(string line) => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{DateTime.UtcNow:HH:mm:ss}] {line}"));

    public static void Table(StringBuilder md, string[] header, IEnumerable<string[]> rows)
    {
        md.AppendLine("| " + string.Join(" | ", header) + " |");
        md.AppendLine("|" + string.Concat(header.Select((_, i) => i == 0 ? " --- |" : " ---: |")));
        foreach (var row in rows)
        {
            md.AppendLine("| " + string.Join(" | ", row) + " |");
        }

        md.AppendLine();
    }

    public static string Load(double before, double after) => $"load average (1 min) {F(before, "0.00")} before, {F(after, "0.00")} after";
}
