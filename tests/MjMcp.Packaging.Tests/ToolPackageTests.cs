using System.Diagnostics;
using System.Net.Http.Json;
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

    [Fact]
    public async Task ToolSandboxServesAConsumerSpec()
    {
        using var work = ConsumerFolder.Create(_feed, "tool-sandbox");
        var toolPath = work.PathOf("t");
        var install = await work.DotnetAsync(["tool", "install", "--tool-path", toolPath, "mjmcp", "--version", _feed.Version, "--add-source", _feed.FeedDirectory], TimeSpan.FromMinutes(5));
        Assert.True(install.ExitCode == 0, install.Output);
        var exe = Path.Combine(toolPath, OperatingSystem.IsWindows() ? "mjmcp.exe" : "mjmcp");

        // A spec mistake: exit 2 and the MJ error at the YAML line, no stack trace.
        var broken = Specs.WithOperation(Repo.Spec(), Specs.Remix(parent: "upscalde"));
        work.Write("broken.yaml", broken);
        var refused = await ProcessRunner.RunAsync(exe, ["sandbox", "--port", "0", "--spec", work.PathOf("broken.yaml")], work.Root, TimeSpan.FromMinutes(1));
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains($"broken.yaml({Specs.LineOf(broken, "parent: upscalde")},", refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("MJ0003", refused.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Stderr, StringComparison.Ordinal);

        // The consumer's added operation is served: imagine → upscale-1x → remix, with the spec's parent rule.
        work.Write("remix.yaml", Specs.WithOperation(Repo.Spec(), Specs.Remix()));
        var start = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = work.Root };
        foreach (var arg in new[] { "sandbox", "--port", "0", "--api-key", "k", "--data-dir", work.TempDirectory("sandbox"), "--spec", work.PathOf("remix.yaml") })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            string? line;
            do
            {
                line = await process.StandardOutput.ReadLineAsync(deadline.Token);
            }
            while (line is not null && !line.Contains("listening on ", StringComparison.Ordinal));
            if (line is null)
            {
                Assert.Fail("the sandbox printed no listening line: " + await process.StandardError.ReadToEndAsync(deadline.Token));
            }

            using var http = new HttpClient { BaseAddress = new Uri(line[(line.IndexOf("listening on ", StringComparison.Ordinal) + "listening on ".Length)..].Trim()) };
            http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "k");

            async Task<string> SubmitAsync(string path, object body)
            {
                using var reply = await http.PostAsJsonAsync(path.TrimStart('/'), body, deadline.Token);
                var text = await reply.Content.ReadAsStringAsync(deadline.Token);
                Assert.True(reply.IsSuccessStatusCode, $"{path}: {(int)reply.StatusCode} {text}");
                return JsonDocument.Parse(text).RootElement.GetProperty("task_id").GetString()!;
            }

            async Task<JsonElement> FinishedAsync(string taskId)
            {
                while (true)
                {
                    using var reply = await http.PostAsJsonAsync("fetch", new { task_id = taskId }, deadline.Token);
                    var task = JsonDocument.Parse(await reply.Content.ReadAsStringAsync(deadline.Token)).RootElement.Clone();
                    if (task.GetProperty("status").GetString() is "finished" or "failed")
                    {
                        return task;
                    }

                    await Task.Delay(100, deadline.Token);
                }
            }

            var grid = await SubmitAsync("/imagine", new { prompt = "a lighthouse at dusk" });
            Assert.Equal("finished", (await FinishedAsync(grid)).GetProperty("status").GetString());

            // The spec's parent rule holds: a grid is not an upscaled image.
            using (var wrong = await http.PostAsJsonAsync("remix", new { parent_task_id = grid, mode = "heavy" }, deadline.Token))
            {
                Assert.Equal(System.Net.HttpStatusCode.BadRequest, wrong.StatusCode);
            }

            var pick = await SubmitAsync("/upscale-1x", new { parent_task_id = grid, index = "2" });
            await FinishedAsync(pick);
            var remix = await FinishedAsync(await SubmitAsync("/remix", new { parent_task_id = pick, mode = "heavy" }));
            Assert.Equal("finished", remix.GetProperty("status").GetString());
            Assert.Equal(4, remix.GetProperty("image_urls").GetArrayLength());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }
}
