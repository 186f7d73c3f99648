using System.Diagnostics;
using System.Text.Json;

namespace MjMcp.Server.Tests;

/// <summary>
/// Clients no one here wrote: the official TypeScript MCP SDK client and the MCP Inspector CLI, run
/// against the built server. The npm packages install on first use (and in .ci/run).
/// </summary>
public sealed class ExternalClientTests : IClassFixture<SandboxFixture>
{
    private static readonly SemaphoreSlim InstallGate = new(1);
    private readonly SandboxFixture _fixture;

    public ExternalClientTests(SandboxFixture fixture) => _fixture = fixture;

    internal static string ExternalDir => Path.Combine(Paths.RepoRoot(), "tests", "MjMcp.Server.Tests", "external");

    [Fact]
    public async Task TypeScriptSdkClientListsToolsAndRunsTheWorkflow()
    {
        await EnsureNpmPackagesAsync();
        var dataDir = Paths.TempDir("ts-client");
        var (exit, stdout, stderr) = await RunAsync("node", ["ts-client.mjs", "dotnet", Paths.ServerDll(), "--data-dir", dataDir], Env());
        Assert.True(exit == 0, $"node exited {exit}: {stderr}");
        using var findings = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]);
        var root = findings.RootElement;
        var tools = root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Contains("imagine", tools);
        Assert.Contains("wait_task", tools);
        var steps = root.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(3, steps.Length);
        Assert.All(steps, s => Assert.False(s.GetProperty("isError").GetBoolean(), s.ToString()));
        Assert.Equal(["grid", "upscaled", "grid"], steps.Select(s => s.GetProperty("stage").GetString()));
        Assert.Contains("pan", steps[1].GetProperty("next").EnumerateArray().Select(n => n.GetString()));
    }

    [Fact]
    public async Task InspectorCliListsToolsAndRunsTheWorkflow()
    {
        await EnsureNpmPackagesAsync();
        var env = Env();
        env["MJMCP_DATA_DIR"] = Paths.TempDir("inspector");
        var inspector = Path.Combine(ExternalDir, "node_modules", ".bin", "mcp-inspector");
        string[] Server(params string[] rest) =>
            ["--cli", "-e", $"MJMCP_API_KEY={env["MJMCP_API_KEY"]}", "-e", $"MJMCP_BASE_URL={env["MJMCP_BASE_URL"]}", "-e", $"MJMCP_DATA_DIR={env["MJMCP_DATA_DIR"]}", "dotnet", Paths.ServerDll(), .. rest];

        var (exit, stdout, stderr) = await RunAsync(inspector, Server("--method", "tools/list"), env);
        Assert.True(exit == 0, $"inspector tools/list exited {exit}: {stderr}");
        Assert.Contains("\"upscale_1x\"", stdout, StringComparison.Ordinal);

        var parent = (string?)null;
        foreach (var (tool, args) in new[] { ("imagine", new[] { "prompt=a blue heron" }), ("upscale_1x", ["index=2"]), ("pan", ["direction=right"]) })
        {
            var toolArgs = args.Concat(parent is null ? [] : new[] { $"parent_task_id={parent}" }).SelectMany(a => new[] { "--tool-arg", a }).ToArray();
            (exit, stdout, stderr) = await RunAsync(inspector, Server(["--method", "tools/call", "--tool-name", tool, .. toolArgs]), env);
            Assert.True(exit == 0, $"inspector {tool} exited {exit}: {stdout} {stderr}");
            using var result = JsonDocument.Parse(stdout);
            var structured = result.RootElement.GetProperty("structuredContent");
            Assert.Equal("finished", structured.GetProperty("state").GetString());
            parent = structured.GetProperty("task_id").GetString();
        }
    }

    private Dictionary<string, string> Env() => new()
    {
        ["MJMCP_API_KEY"] = _fixture.Sandbox.Options.ApiKey!,
        ["MJMCP_BASE_URL"] = _fixture.Sandbox.BaseUrl.ToString(),
        ["MJMCP_SANDBOX_TIMING"] = "instant",
    };

    /// <summary>npm ci on first use, so `dotnet test` on a fresh clone passes by itself.</summary>
    internal static async Task EnsureNpmPackagesAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (File.Exists(Path.Combine(ExternalDir, "node_modules", ".bin", "mcp-inspector")) && Directory.Exists(Path.Combine(ExternalDir, "node_modules", "@modelcontextprotocol", "sdk")))
            {
                return;
            }

            var (exit, _, stderr) = await RunAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], new Dictionary<string, string>(), TimeSpan.FromMinutes(8));
            Assert.True(exit == 0, $"npm ci failed ({exit}): {stderr}");
        }
        finally
        {
            InstallGate.Release();
        }
    }

    internal static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string command, string[] args, Dictionary<string, string> env, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo(command) { WorkingDirectory = ExternalDir, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var pair in env)
        {
            start.Environment[pair.Key] = pair.Value;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
