using MjMcp.Sandbox;

namespace MjMcp.Packaging.Tests;

/// <summary>MjMcp.Sdk as a consumer gets it: from the feed, generator and all.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class SdkPackageTests
{
    private readonly PackedFeed _feed;

    public SdkPackageTests(PackedFeed feed) => _feed = feed;

    [Fact]
    public async Task ReadmeSnippetCompilesAndRunsAgainstTheSandbox()
    {
        var snippet = Repo.ReadmeSnippet("sdk");
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "k", Timing = SandboxTiming.Instant, CandidateSize = 128 });
        using var app = ConsumerFolder.Create(_feed, "readme-snippet");
        app.WriteProject("ReadmeSnippet.csproj", ["MjMcp.Sdk"]);
        app.Write("Program.cs", snippet);

        var build = await app.DotnetAsync(["build", "-c", "Release", "-o", "out", .. BuildOutput.Flags]);
        Assert.True(build.ExitCode == 0, build.Output);

        var run = await app.DotnetAsync(
            [app.PathOf("out", "ReadmeSnippet.dll")],
            TimeSpan.FromMinutes(3),
            env: new Dictionary<string, string?> { ["MJMCP_BASE_URL"] = sandbox.BaseUrl.ToString(), ["MJMCP_API_KEY"] = "k" });
        Assert.True(run.ExitCode == 0, run.Output);
        var stages = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(l => l.Split(':')[0]).ToArray();
        Assert.Equal(["grid", "upscaled", "grid"], stages);
        Assert.Equal(3, sandbox.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task ConsumerSpecWithAddedOperation()
    {
        using var app = ConsumerFolder.Create(_feed, "consumer-spec");
        app.WriteProject(
            "Consumer.csproj",
            ["MjMcp.Sdk"],
            extraProperties: "    <MjMcpNamespace>Contoso.Mj</MjMcpNamespace>\n",
            extraItems: "    <AdditionalFiles Include=\"midjourney.yaml\" />\n");
        var spec = Specs.WithOperation(Repo.Spec(), Specs.Remix());
        var yamlPath = app.Write("midjourney.yaml", spec);
        app.Write("Program.cs", Program("""
            GridTask grid = await mj.ImagineAsync("a fox in the snow").WaitAsync(CancellationToken.None);
            UpscaledTask pick = await mj.Upscale1xAsync(grid, index: 2).WaitAsync(CancellationToken.None);
            GridTask remixed = await mj.RemixAsync(pick, RemixMode.Heavy).WaitAsync(CancellationToken.None);
            Console.WriteLine(remixed.Stage);
            """));

        var restore = await app.DotnetAsync(["restore", "-nologo", "-tl:off"]);
        Assert.True(restore.ExitCode == 0, restore.Output);

        // 1. The added operation is a typed method with a typed enum, and the output compiles clean.
        var build = await BuildAsync(app);
        Assert.True(build.ExitCode == 0, build.Output);
        Assert.True(BuildOutput.Warnings(build.Stdout + build.Stderr).Count == 0, build.Output);

        // 2. Its parent rule is a type: a grid is not an upscaled image.
        app.Write("Program.cs", Program("""
            GridTask grid = await mj.ImagineAsync("a fox in the snow").WaitAsync(CancellationToken.None);
            GridTask remixed = await mj.RemixAsync(grid, RemixMode.Heavy).WaitAsync(CancellationToken.None);
            Console.WriteLine(remixed.Stage);
            """));
        build = await BuildAsync(app);
        Assert.True(build.ExitCode != 0, build.Output);
        var errors = BuildOutput.Errors(build.Stdout + build.Stderr);
        Assert.True(errors.Count > 0 && errors.All(e => e.Id == "CS1503"), build.Output);
        Assert.All(errors, e => Assert.EndsWith("Program.cs", e.File, StringComparison.Ordinal));

        // 3. A mistake in the consumer's own operation is one MJ error at the consumer's YAML line, nothing else.
        var broken = Specs.WithOperation(Repo.Spec(), Specs.Remix(parent: "upscalde"));
        app.Write("midjourney.yaml", broken);
        var line = Specs.LineOf(broken, "parent: upscalde");
        app.Write("Program.cs", Program("""
            GridTask grid = await mj.ImagineAsync("a fox in the snow").WaitAsync(CancellationToken.None);
            Console.WriteLine(grid.Stage);
            """));
        build = await BuildAsync(app);
        Assert.True(build.ExitCode != 0, build.Output);
        errors = BuildOutput.Errors(build.Stdout + build.Stderr);
        var error = Assert.Single(errors);
        Assert.StartsWith("MJ", error.Id, StringComparison.Ordinal);
        Assert.Equal(Path.GetFullPath(yamlPath), Path.GetFullPath(error.File!, app.Root));
        Assert.Equal(line, error.Line);
        Assert.DoesNotContain(BuildOutput.Diagnostics(build.Stdout + build.Stderr), d => d.Id.StartsWith("CS", StringComparison.Ordinal) && d.Severity == "error");
    }

    private static Task<ProcessResult> BuildAsync(ConsumerFolder app) => app.DotnetAsync(["build", "--no-restore", .. BuildOutput.Flags]);

    /// <summary>A program over the generated client in Contoso.Mj (options from the runtime, namespace MjMcp).</summary>
    private static string Program(string body) => $$"""
        using Contoso.Mj;

        var mj = new MidjourneyClient(new HttpClient(), new MjMcp.MidjourneyOptions { ApiKey = "k", BaseUrl = new Uri("http://127.0.0.1:9/") });
        {{body}}

        """;
}
