using System.Text.Json;

namespace MjMcp.Packaging.Tests;

/// <summary>The mjmcp .NET tool as a user installs it from a feed.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class ToolPackageTests
{
    private readonly PackedFeed _feed;

    public ToolPackageTests(PackedFeed feed) => _feed = feed;

    [Fact]
    public async Task ToolInstallsFromTheFeedAndServes()
    {
        var package = Nupkg.Read(_feed.Package("mjmcp"));
        Assert.Contains("McpServer", package.PackageTypes);
        Assert.Contains("DotnetTool", package.PackageTypes);
        Assert.Contains(".mcp/server.json", package.Entries);
        Assert.DoesNotContain(package.DependencyIds, id => id.StartsWith("MjMcp.Sandbox", StringComparison.OrdinalIgnoreCase) || id.StartsWith("MjMcp.Imaging", StringComparison.OrdinalIgnoreCase));
        using (var serverJson = JsonDocument.Parse(package.ReadEntry(".mcp/server.json") ?? "{}"))
        {
            // The MCP registry reads this file: it must name this package at this version.
            var nuget = serverJson.RootElement.GetProperty("packages").EnumerateArray()
                .Single(p => p.GetProperty("identifier").GetString() is { } id && id.Equals("mjmcp", StringComparison.OrdinalIgnoreCase));
            Assert.Equal(_feed.Version, nuget.GetProperty("version").GetString());
            Assert.Equal(_feed.Version, serverJson.RootElement.GetProperty("version").GetString());
        }

        using var work = ConsumerFolder.Create(_feed, "tool");
        var toolPath = work.PathOf("t");
        var install = await work.DotnetAsync(["tool", "install", "--tool-path", toolPath, "mjmcp", "--version", _feed.Version, "--add-source", _feed.FeedDirectory], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, install.Output);
        var exe = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "mjmcp.exe" : "mjmcp");
        Assert.True(File.Exists(exe), install.Output);

        using var findings = await NodeClient.DriveAsync(
            work.Root,
            [("imagine", new { prompt = "a red fox in snow" }), ("upscale_1x", new { index = 3 }), ("pan", new { direction = "left" })],
            exe,
            [],
            new Dictionary<string, string?> { ["MJMCP_DATA_DIR"] = work.TempDirectory("data"), ["MJMCP_SANDBOX_TIMING"] = "instant" });
        var root = findings.RootElement;
        if (root.TryGetProperty("error", out var failure))
        {
            Assert.Fail($"the MCP session failed: {failure}\nserver stderr:\n{root.GetProperty("stderr").GetString()}");
        }

        var tools = root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Contains("imagine", tools);
        Assert.Contains("pan", tools);
        var steps = root.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(3, steps.Length);
        Assert.All(steps, s => Assert.False(s.GetProperty("isError").GetBoolean(), s.ToString()));
        Assert.Equal(["grid", "upscaled", "grid"], steps.Select(s => s.GetProperty("stage").GetString()));
    }
}
