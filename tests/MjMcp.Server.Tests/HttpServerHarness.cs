using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MjMcp.Server.Tests;

/// <summary>
/// A real <c>mjmcp serve --http 127.0.0.1:0</c> process (any free port: the server prints the address it got, so no
/// port is guessed), with the environment a test gives it; killed when disposed.
/// </summary>
internal sealed partial class HttpServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private HttpServerProcess(Process process, Uri mcp, ConcurrentQueue<string> stderr, string dataDir)
    {
        _process = process;
        McpUrl = mcp;
        Stderr = stderr;
        DataDir = dataDir;
    }

    /// <summary>http://127.0.0.1:PORT/mcp</summary>
    public Uri McpUrl { get; }

    /// <summary>http://127.0.0.1:PORT/</summary>
    public Uri BaseUrl => new(McpUrl, "/");

    public ConcurrentQueue<string> Stderr { get; }

    public string DataDir { get; }

    /// <summary>A random token and its stored form (what <c>mjmcp token new</c> prints).</summary>
    public static (string Token, string Hash) NewToken()
    {
        var token = "test_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        return (token, Hash(token));
    }

    /// <summary>The stored form of a token: sha256: and the lowercase hex of its SHA-256.</summary>
    public static string Hash(string token) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>Starts the server with <paramref name="env"/> (MJMCP_HTTP_TOKENS etc.) and waits for its address.</summary>
    public static async Task<HttpServerProcess> StartAsync(Dictionary<string, string?> env, params string[] extraArgs)
    {
        var dataDir = Paths.TempDir("http-server");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[] { Paths.ServerDll(), "serve", "--http", "127.0.0.1:0", "--data-dir", dataDir }.Concat(extraArgs))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["MJMCP_SANDBOX_TIMING"] = "instant";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in env)
        {
            start.Environment[key] = value;
        }

        var stderr = new ConcurrentQueue<string>();
        var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                stderr.Enqueue(line);
                if (Address().Match(line) is { Success: true } match)
                {
                    address.TrySetResult(new Uri(match.Groups[1].Value));
                }
            }
        };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is { } line)
            {
                stderr.Enqueue("stdout: " + line);
            }
        };
        process.Exited += (_, _) => address.TrySetException(new InvalidOperationException("mjmcp serve --http exited before it listened"));
        process.Start();
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        process.StandardInput.Close();
        try
        {
            var mcp = await address.Task.WaitAsync(TimeSpan.FromSeconds(90));
            return new HttpServerProcess(process, mcp, stderr, dataDir);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            await new HttpServerProcess(process, new Uri("http://127.0.0.1/"), stderr, dataDir).DisposeAsync();
            throw new InvalidOperationException($"mjmcp serve --http did not start: {ex.Message}\n{string.Join("\n", stderr)}", ex);
        }
    }

    /// <summary>Runs mjmcp with <paramref name="args"/> to its end: exit code, stdout, stderr.</summary>
    public static async Task<(int Exit, string Stdout, string Stderr)> RunCliAsync(Dictionary<string, string?> env, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Paths.ServerDll());
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in env)
        {
            start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Ends the server as a crash would (SIGKILL): no shutdown, no goodbye to its clients.</summary>
    public void KillNine()
    {
        _process.Kill(entireProcessTree: false);
        _process.WaitForExit(20_000);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(20));
            }
        }
        catch (InvalidOperationException)
        {
        }
        catch (TimeoutException)
        {
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"MCP over Streamable HTTP at (http://\S+/mcp) ")]
    private static partial Regex Address();
}
