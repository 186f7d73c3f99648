using System.Text.Json;

namespace MjMcp.Packaging.Tests;

/// <summary>`dotnet new mjmcp-server` from the feed: a consumer's own MCP server from its own spec.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class TemplateTests
{
    private readonly PackedFeed _feed;

    public TemplateTests(PackedFeed feed) => _feed = feed;

    [Fact]
    public async Task TemplateServerListsSpecToolsAndRunsTheAddedOperation()
    {
        using var work = ConsumerFolder.Create(_feed, "template");
        var hive = work.TempDirectory("hive");
        var install = await work.DotnetAsync(["new", "install", _feed.Package("MjMcp.Templates"), "--debug:custom-hive", hive], TimeSpan.FromMinutes(3));
        Assert.True(install.ExitCode == 0, install.Output);
        var created = await work.DotnetAsync(["new", "mjmcp-server", "-n", "Contoso.Imaging", "-o", "Contoso.Imaging", "--debug:custom-hive", hive], TimeSpan.FromMinutes(3));
        Assert.True(created.ExitCode == 0, created.Output);

        var project = work.PathOf("Contoso.Imaging");
        Assert.Equal(
            ["Contoso.Imaging.csproj", "Program.cs", "README.md", "midjourney.yaml"],
            Directory.GetFiles(project, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(project, f).Replace('\\', '/')).Order(StringComparer.Ordinal));
        var csproj = work.Read("Contoso.Imaging/Contoso.Imaging.csproj");
        Assert.Contains($"""<PackageReference Include="MjMcp.Server" Version="{_feed.Version}" />""", csproj, StringComparison.Ordinal);
        Assert.Contains("<MjMcpNamespace>Contoso.Imaging.Mj</MjMcpNamespace>", csproj, StringComparison.Ordinal);
        Assert.Contains("using Contoso.Imaging.Mj;", work.Read("Contoso.Imaging/Program.cs"), StringComparison.Ordinal);
        Assert.Equal(Repo.Spec().ReplaceLineEndings("\n"), work.Read("Contoso.Imaging/midjourney.yaml").ReplaceLineEndings("\n"));

        work.Write("Contoso.Imaging/midjourney.yaml", Specs.WithOperation(work.Read("Contoso.Imaging/midjourney.yaml"), Specs.Remix()));
        var build = await work.DotnetAsync(["build", "-c", "Release", "-o", "out", .. BuildOutput.Flags], TimeSpan.FromMinutes(8), "Contoso.Imaging");
        Assert.True(build.ExitCode == 0, build.Output);
        Assert.True(BuildOutput.Warnings(build.Stdout + build.Stderr).Count == 0, build.Output);

        using var findings = await NodeClient.DriveAsync(
            work.Root,
            [("imagine", new { prompt = "a lighthouse at dusk" }), ("upscale_1x", new { index = 2 }), ("remix", new { mode = "heavy" })],
            "dotnet",
            [Path.Combine(project, "out", "Contoso.Imaging.dll")],
            new Dictionary<string, string?> { ["MJMCP_DATA_DIR"] = work.TempDirectory("data"), ["MJMCP_SANDBOX_TIMING"] = "instant" });
        var root = findings.RootElement;
        if (root.TryGetProperty("error", out var failure))
        {
            Assert.Fail($"the MCP session failed: {failure}\nserver stderr:\n{root.GetProperty("stderr").GetString()}");
        }

        var tools = root.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).ToArray();
        Assert.Contains("imagine", tools);
        Assert.Contains("pan", tools);
        Assert.Contains("remix", tools);
        var steps = root.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(3, steps.Length);
        Assert.All(steps, s => Assert.False(s.GetProperty("isError").GetBoolean(), s.ToString()));
        Assert.Equal(["grid", "upscaled", "grid"], steps.Select(s => s.GetProperty("stage").GetString()));
        Assert.Contains("remix", steps[1].GetProperty("next").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal("grid", steps[2].GetProperty("stage").GetString());
        Assert.Equal(JsonValueKind.String, steps[2].GetProperty("task_id").ValueKind);
    }
}
