using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;

namespace MjMcp.Sandbox.Tests;

/// <summary>The standalone sandbox (the same code as <c>mjmcp sandbox</c>) stops cleanly on SIGTERM and SIGINT.</summary>
public sealed class ShutdownTests
{
    private static string RepoRoot([CallerFilePath] string file = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    /// <summary>The built sandbox dll, from the same configuration as the tests.</summary>
    private static string SandboxDll()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var path = Path.Combine(RepoRoot(), "src", "MjMcp.Sandbox", "bin", configuration, "net10.0", "MjMcp.Sandbox.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the sandbox first (dotnet build).", path);
    }

    [Theory]
    [InlineData("TERM")]
    [InlineData("INT")]
    public async Task TheStandaloneSandboxExitsWithZeroOnASignal(string signal)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            return;
        }

        var dir = Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-signal-" + Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { SandboxDll(), "--port", "0", "--data-dir", dir, "--api-key", "sig-key" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            lock (stderr)
            {
                stderr.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        try
        {
            // Wait (generously) for the listening line.
            using var startup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? url = null;
            while (url is null)
            {
                var line = await process.StandardOutput.ReadLineAsync(startup.Token) ?? throw new InvalidOperationException("The sandbox exited before listening: " + stderr);
                var at = line.IndexOf("listening on ", StringComparison.Ordinal);
                url = at < 0 ? null : line[(at + 13)..].Trim();
            }

            // It serves; then a request is still in flight (slow enough to be there) when the signal arrives.
            using var http = Wire.Client(new Uri(url), "sig-key");
            var id = await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "before the signal" });
            Assert.Equal("finished", (await Wire.FinishedAsync(http, id)).GetProperty("status").GetString());
            var inFlight = Wire.PostAsync(http, "/imagine", new JsonObject { ["prompt"] = "during the signal" });

            using (var kill = Process.Start("kill", ["-" + signal, process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
                Assert.Equal(0, kill.ExitCode);
            }

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await process.WaitForExitAsync(deadline.Token);
            Assert.True(0 == process.ExitCode, $"exit code {process.ExitCode}: {stderr}");

            // The in-flight request was answered or its connection closed; it does not hang.
            try
            {
                await inFlight.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (HttpRequestException)
            {
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }
}
