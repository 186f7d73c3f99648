using System.Text.Json;

namespace MjMcp.Packaging.Tests;

/// <summary>
/// Drives an MCP server over stdio with the official TypeScript MCP SDK client (clients/drive.mjs). The npm
/// packages are the ones of tests/MjMcp.Server.Tests/external (installed there on first use, as its tests do);
/// the script runs from a temporary folder whose node_modules links to them.
/// </summary>
internal static class NodeClient
{
    private static readonly SemaphoreSlim InstallGate = new(1);

    private static string ExternalDir => Repo.PathOf("tests", "MjMcp.Server.Tests", "external");

    /// <summary>Lists the tools and runs <paramref name="steps"/>; returns the findings JSON (one line).</summary>
    public static async Task<JsonDocument> DriveAsync(
        string workDirectory,
        IEnumerable<(string Tool, object Arguments)> steps,
        string command,
        IEnumerable<string> args,
        IReadOnlyDictionary<string, string?> env)
    {
        await EnsureNpmPackagesAsync();
        var clientDir = Path.Combine(workDirectory, "ts-client-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(clientDir);
        File.Copy(Repo.PathOf("tests", "MjMcp.Packaging.Tests", "clients", "drive.mjs"), Path.Combine(clientDir, "drive.mjs"));
        Directory.CreateSymbolicLink(Path.Combine(clientDir, "node_modules"), Path.Combine(ExternalDir, "node_modules"));
        var stepsJson = JsonSerializer.Serialize(steps.Select(s => new object[] { s.Tool, s.Arguments }).ToArray());
        var result = await ProcessRunner.RunAsync("node", ["drive.mjs", stepsJson, command, .. args], clientDir, TimeSpan.FromMinutes(5), env);
        Assert.True(result.ExitCode == 0, $"the TypeScript client failed:\n{result.Output}");
        var last = result.Stdout.Trim().Split('\n')[^1];
        try
        {
            return JsonDocument.Parse(last);
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"the TypeScript client printed no findings:\n{result.Output}", e);
        }
    }

    /// <summary>npm ci on first use, so `dotnet test` on a fresh clone passes by itself.</summary>
    private static async Task EnsureNpmPackagesAsync()
    {
        await InstallGate.WaitAsync();
        try
        {
            if (Directory.Exists(Path.Combine(ExternalDir, "node_modules", "@modelcontextprotocol", "sdk")))
            {
                return;
            }

            var result = await ProcessRunner.RunAsync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], ExternalDir, TimeSpan.FromMinutes(8));
            Assert.True(result.ExitCode == 0, $"npm ci failed:\n{result.Output}");
        }
        finally
        {
            InstallGate.Release();
        }
    }
}
