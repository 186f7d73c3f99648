using System.Globalization;
using System.Runtime.InteropServices;

namespace MjMcp.Bench;

/// <summary>What the numbers were measured on, read from /proc (Linux).</summary>
internal static class Machine
{
    /// <summary>The 1-minute load average, or NaN where /proc/loadavg is missing.</summary>
    public static double Load()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    public static string Describe()
    {
        var cpu = Read("/proc/cpuinfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";
        var memKb = Read("/proc/meminfo")?.Split('\n').FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))?.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        var ram = long.TryParse(memKb, out var kb) ? $"{kb / 1024.0 / 1024.0:0.0} GiB RAM" : "RAM unknown";
        var os = Read("/etc/os-release")?.Split('\n').FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?[12..].Trim('"') ?? RuntimeInformation.OSDescription;
        return string.Create(CultureInfo.InvariantCulture, $"{Environment.ProcessorCount} cores ({cpu}), {ram}, {os} (kernel {Environment.OSVersion.Version}), .NET {Environment.Version}");
    }

    /// <summary>Peak resident memory (VmHWM) of a process, in MiB, or NaN.</summary>
    public static double PeakRssMiB(int pid)
    {
        var line = Read($"/proc/{pid}/status")?.Split('\n').FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is not null && long.TryParse(line[6..].Trim().Split(' ')[0], out var kb) ? kb / 1024.0 : double.NaN;
    }

    /// <summary>CPU time (user + system) a process has used so far, in seconds (/proc/PID/stat, 100 ticks a second), or NaN.</summary>
    public static double CpuSeconds(int pid)
    {
        // The fields after the command's closing parenthesis: state is the 3rd field, utime the 14th, stime the 15th.
        var stat = Read($"/proc/{pid}/stat");
        var fields = stat?[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return fields is { Length: > 13 } && long.TryParse(fields[11], out var user) && long.TryParse(fields[12], out var system)
            ? (user + system) / 100.0
            : double.NaN;
    }

    /// <summary>The process whose command line holds <paramref name="marker"/> (a unique data directory).</summary>
    public static int? FindPid(string marker)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            if (Read(Path.Combine(dir, "cmdline"))?.Replace('\0', ' ').Contains(marker, StringComparison.Ordinal) == true)
            {
                return pid;
            }
        }

        return null;
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
