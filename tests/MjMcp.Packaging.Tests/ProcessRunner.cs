using System.Diagnostics;
using System.Text;

namespace MjMcp.Packaging.Tests;

/// <summary>The outcome of a finished child process.</summary>
internal sealed record ProcessResult(string Command, int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Everything the process printed, for assertion messages.</summary>
    public string Output => $"$ {Command}\n(exit {ExitCode})\n{Stdout}\n{Stderr}";
}

/// <summary>
/// Runs child processes with a deadline: on time-out (or cancellation) the whole process tree is killed and
/// a <see cref="TimeoutException"/> carries what was printed so far. The child gets a clean environment for
/// builds: no MSBuild variables of the test host, no MJMCP_* settings of the machine (a real API key must
/// never reach a test), no long-lived MSBuild nodes or compiler servers that would outlive the test.
/// </summary>
internal static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(
        string fileName,
        IEnumerable<string> arguments,
        string workingDirectory,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null,
        CancellationToken cancellationToken = default)
    {
        var args = arguments.ToArray();
        var command = string.Join(' ', args.Prepend(fileName).Select(a => a.Contains(' ', StringComparison.Ordinal) ? $"\"{a}\"" : a));
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        PrepareEnvironment(start.Environment);
        foreach (var pair in environment ?? new Dictionary<string, string?>())
        {
            if (pair.Value is null)
            {
                start.Environment.Remove(pair.Key);
            }
            else
            {
                start.Environment[pair.Key] = pair.Value;
            }
        }

        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(stdout, e.Data);
        process.ErrorDataReceived += (_, e) => Append(stderr, e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {command}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Kill(process);
            throw new TimeoutException($"{command} did not finish within {timeout} (killed).\n{Snapshot(stdout)}\n{Snapshot(stderr)}");
        }
        finally
        {
            Kill(process);
        }

        process.WaitForExit(); // flushes the asynchronous readers
        return new ProcessResult(command, process.ExitCode, Snapshot(stdout), Snapshot(stderr));
    }

    /// <summary>The environment every child starts from (the caller's overrides are applied after).</summary>
    private static void PrepareEnvironment(IDictionary<string, string?> env)
    {
        foreach (var key in env.Keys.ToArray())
        {
            if (key.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("MJMCP_", StringComparison.OrdinalIgnoreCase)
                || key.StartsWith("VSTEST_", StringComparison.OrdinalIgnoreCase)
                || key.Equals("DOTNET_HOST_PATH", StringComparison.OrdinalIgnoreCase))
            {
                env.Remove(key);
            }
        }

        env["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        env["DOTNET_NOLOGO"] = "1";
        env["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        env["DOTNET_CLI_UI_LANGUAGE"] = "en";
        env["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        env["MSBUILDDISABLENODEREUSE"] = "1";
        env["MSBUILDTERMINALLOGGER"] = "off";
        // No VBCSCompiler server left behind (an environment variable is an MSBuild property).
        env["UseSharedCompilation"] = "false";
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }
    }

    private static void Append(StringBuilder sink, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (sink)
        {
            sink.Append(line).Append('\n');
        }
    }

    private static string Snapshot(StringBuilder sink)
    {
        lock (sink)
        {
            return sink.ToString();
        }
    }
}
