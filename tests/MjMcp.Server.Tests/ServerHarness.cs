using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>Finds the repository and the built server.</summary>
internal static class Paths
{
    /// <summary>A TCP port free on 127.0.0.1 right now.</summary>
    public static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }

    public static string RepoRoot([CallerFilePath] string file = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file)!, "..", ".."));

    /// <summary>The built server dll, from the same configuration as the tests.</summary>
    public static string ServerDll()
    {
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var path = Path.Combine(RepoRoot(), "src", "MjMcp.Cli", "bin", configuration, "net10.0", "mjmcp.dll");
        return File.Exists(path) ? path : throw new FileNotFoundException("Build the server first (dotnet build).", path);
    }

    /// <summary>This test run's folder: every data dir of the run lives in it and it is removed when the run ends
    /// (a full-size load test alone writes gigabytes of images).</summary>
    private static readonly Lazy<string> RunRoot = new(() =>
    {
        var runs = Path.Combine(Path.GetTempPath(), "mjmcp-tests");
        RemoveEndedRuns(runs);
        var root = Path.Combine(runs, "run-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (IOException)
            {
                // A server process still closing its files: the folder stays in /tmp.
            }
            catch (UnauthorizedAccessException)
            {
            }
        };
        return root;
    });

    /// <summary>
    /// Removes the folders of earlier runs whose test process has ended: the exit handler below cannot always finish
    /// (the test host may be stopped while gigabytes are still being deleted, or a server still holds files), and each
    /// run leaves a few GB.
    /// </summary>
    private static void RemoveEndedRuns(string runs)
    {
        if (!Directory.Exists(runs))
        {
            return;
        }

        foreach (var dir in Directory.EnumerateDirectories(runs, "run-*"))
        {
            var parts = Path.GetFileName(dir).Split('-');
            if (parts.Length < 3 || !int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid) || IsRunning(pid))
            {
                continue;
            }

            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Another run removing it at the same time, or a file still open: left for the next run.
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    public static string TempDir(string name)
    {
        var dir = Path.Combine(RunRoot.Value, name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }
}

/// <summary>A real mjmcp server process driven by the C# MCP client over stdio.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private ServerProcess(McpClient client, string dataDir, ConcurrentQueue<string> stderr)
    {
        Client = client;
        DataDir = dataDir;
        Stderr = stderr;
    }

    public McpClient Client { get; }

    public string DataDir { get; }

    public ConcurrentQueue<string> Stderr { get; }

    /// <summary>Starts a server; with <paramref name="sandbox"/> it treats that sandbox as "the provider".</summary>
    public static async Task<ServerProcess> StartAsync(SandboxServer? sandbox, string? dataDir = null, string? protocolVersion = "2025-11-25", Dictionary<string, string?>? env = null, Action<McpClientOptions>? configureClient = null, string? workingDirectory = null)
    {
        dataDir ??= Paths.TempDir("server");
        var stderr = new ConcurrentQueue<string>();
        var variables = new Dictionary<string, string?>
        {
            ["MJMCP_API_KEY"] = sandbox?.Options.ApiKey,
            ["MJMCP_BASE_URL"] = sandbox?.BaseUrl.ToString(),
            ["MJMCP_SANDBOX_TIMING"] = "instant",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        };
        foreach (var pair in env ?? [])
        {
            variables[pair.Key] = pair.Value;
        }

        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "mjmcp",
            Command = "dotnet",
            Arguments = [Paths.ServerDll(), "--data-dir", dataDir],
            WorkingDirectory = workingDirectory,
            EnvironmentVariables = variables,
            StandardErrorLines = stderr.Enqueue,
            ShutdownTimeout = TimeSpan.FromSeconds(5),
        });
        var options = new McpClientOptions { ClientInfo = new Implementation { Name = "mjmcp-tests", Version = "1.0" } };
        if (protocolVersion is not null)
        {
            options.ProtocolVersion = protocolVersion;
        }

        configureClient?.Invoke(options);

        var client = await McpClient.CreateAsync(transport, options).ConfigureAwait(false);
        return new ServerProcess(client, dataDir, stderr);
    }

    public async Task<CallToolResult> CallAsync(string tool, JsonObject args, CancellationToken cancellationToken = default, ProgressToken? progressToken = null)
    {
        var request = new CallToolRequestParams
        {
            Name = tool,
            Arguments = args.ToDictionary(p => p.Key, p => JsonSerializer.SerializeToElement(p.Value)),
        };
        if (progressToken is { } token)
        {
            request.Meta = new JsonObject { ["progressToken"] = token.ToString() };
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        return await Client.CallToolAsync(request, timeout.Token).ConfigureAwait(false);
    }

    /// <summary>Calls a tool and requires success; returns the structured content.</summary>
    public async Task<JsonElement> OkAsync(string tool, JsonObject args)
    {
        var result = await CallAsync(tool, args).ConfigureAwait(false);
        Assert.False(result.IsError == true, $"{tool} failed: {Text(result)}");
        Assert.NotNull(result.StructuredContent);
        return result.StructuredContent!.Value;
    }

    public static string Text(CallToolResult result) => string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));

    /// <summary>The OS process of this server, found by its unique data directory on the command line (Linux).</summary>
    public int? FindPid()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline")).Replace('\0', ' ');
                if (cmdline.Contains("mjmcp.dll", StringComparison.Ordinal) && cmdline.Contains(DataDir, StringComparison.Ordinal))
                {
                    return pid;
                }
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }

        return null;
    }

    public async ValueTask DisposeAsync() => await Client.DisposeAsync().ConfigureAwait(false);
}

/// <summary>One sandbox "provider" shared by a test class; servers under test point at it, so tests can count requests.</summary>
public sealed class SandboxFixture : IAsyncLifetime
{
    public SandboxServer Sandbox { get; private set; } = null!;

    public async Task InitializeAsync() =>
        Sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "test-provider-key-5f3a9", DataDirectory = Paths.TempDir("sandbox"), Timing = SandboxTiming.Instant, CandidateSize = 256 });

    public async Task DisposeAsync() => await Sandbox.DisposeAsync();
}

/// <summary>Test images.</summary>
internal static class TestImages
{
    /// <summary>A PNG mask, white square in the middle, as base64.</summary>
    public static string MaskBase64()
    {
        var mask = new RgbaImage(64, 64);
        for (var y = 16; y < 48; y++)
        {
            for (var x = 16; x < 48; x++)
            {
                var i = ((y * 64) + x) * 4;
                mask.Pixels[i] = mask.Pixels[i + 1] = mask.Pixels[i + 2] = mask.Pixels[i + 3] = 255;
            }
        }

        return Convert.ToBase64String(PngCodec.Encode(mask));
    }
}
