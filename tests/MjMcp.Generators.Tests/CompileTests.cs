using Microsoft.CodeAnalysis;

namespace MjMcp.Generators.Tests;

/// <summary>The generated code compiles with zero warnings with the runtime, and the stage types make illegal chains compile errors.</summary>
public sealed class CompileTests
{
    private const string Prelude = """
        using MjMcp;
        using System.Threading.Tasks;
        public static class Snippet
        {
            public static async Task Run(MidjourneyClient mj, GridTask grid, UpscaledTask upscaled, HiResTask hires)
            {
        """;

    private const string Coda = "\n    }\n}\n";

    private static IEnumerable<Diagnostic> Problems(string body) =>
        Harness.CompileWithRuntime(Harness.RealSpec(), Prelude + body + Coda).Where(d => d.Severity >= DiagnosticSeverity.Warning);

    [Fact]
    public void GeneratedCodeCompilesWithZeroWarnings()
    {
        var problems = Harness.CompileWithRuntime(Harness.RealSpec()).Where(d => d.Severity >= DiagnosticSeverity.Warning && d.Id != "CS1591").ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void TheDocumentedWorkflowCompiles()
    {
        var problems = Problems("""
            GridTask g = await mj.ImagineAsync("a lighthouse at dusk").WaitAsync(default(System.Threading.CancellationToken));
            GridTask g2 = await mj.ImagineAsync(new ImagineRequest { Prompt = "x", AspectRatio = "16:9" }).WaitAsync();
            UpscaledTask pick = await mj.Upscale1xAsync(g, index: 2).WaitAsync();
            GridTask wider = await mj.PanAsync(pick, PanDirection.Left).WaitAsync();
            GridTask strong = await mj.VariationsAsync(pick, VariationStrength.Strong).WaitAsync();
            GridTask positional = await mj.VariationsAsync(g, 3).WaitAsync();
            HiResTask alt = await mj.UpscaleAltAsync(pick, UpscaleAltMode.Creative).WaitAsync();
            HiResTask big = await mj.UpscaleHighresAsync(pick, HighresScale.Quadruple).WaitAsync();
            SeedResult seed = await mj.SeedAsync(alt).WaitAsync();
            PendingTask<GridTask> pending = await mj.RerollAsync(g);
            """).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Theory]
    [InlineData("await mj.PanAsync(grid, PanDirection.Left);")]
    [InlineData("await mj.InpaintAsync(grid, \"mask\");")]
    [InlineData("await mj.OutpaintAsync(grid, 1.5);")]
    [InlineData("await mj.VariationsAsync(grid, VariationStrength.Strong);")]
    [InlineData("await mj.VariationsAsync(upscaled, 2);")]
    [InlineData("await mj.UpscaleAltAsync(hires, UpscaleAltMode.Subtle);")]
    [InlineData("await mj.UpscaleAltAsync(grid, UpscaleAltMode.Subtle);")]
    [InlineData("await mj.Upscale1xAsync(upscaled, 1);")]
    [InlineData("await mj.RerollAsync(upscaled);")]
    public void IllegalChainIsACompileError(string call)
    {
        var errors = Problems(call).Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.Contains(errors, d => d.Id is "CS1503" or "CS1929" or "CS1061");
    }

    [Fact]
    public void TheSameCallsCompileOnTheRightStage()
    {
        var problems = Problems("""
            await mj.PanAsync(upscaled, PanDirection.Left);
            await mj.InpaintAsync(upscaled, "mask");
            await mj.OutpaintAsync(upscaled, 1.5);
            await mj.UpscaleAltAsync(upscaled, UpscaleAltMode.Subtle);
            await mj.Upscale1xAsync(grid, 1);
            await mj.RerollAsync(grid);
            """).ToList();
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }
}
