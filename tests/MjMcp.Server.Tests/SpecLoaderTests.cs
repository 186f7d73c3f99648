using System.Text.Json;
using MjMcp.Server;

namespace MjMcp.Server.Tests;

/// <summary>The run-time spec loader (mjmcp sandbox --spec) and the generator read a spec the same way.</summary>
public sealed class SpecLoaderTests
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    [Fact]
    public void LoadedRulesEqualTheGeneratedRuleTable()
    {
        var loaded = SpecLoader.Load(Path.Combine(Paths.RepoRoot(), "spec", "midjourney.yaml"));
        Assert.Equal(JsonSerializer.Serialize(MidjourneySpec.Rules, Json), JsonSerializer.Serialize(loaded, Json));
    }

    [Fact]
    public void AnAddedOperationIsLoaded()
    {
        var text = File.ReadAllText(Path.Combine(Paths.RepoRoot(), "spec", "midjourney.yaml")) + """

              remix:
                path: /remix
                task_type: remix
                credits: 4
                summary: Re-imagine an upscaled image.
                parent: upscaled
                produces: grid
                params:
                  mode: { type: enum, required: true, values: [light, heavy], summary: How far. }
            """;
        var rules = SpecLoader.Parse("my.yaml", text);
        var remix = rules.FindOperation("remix");
        Assert.NotNull(remix);
        Assert.Equal("/remix", remix.Path);
        Assert.Equal(["upscaled"], remix.Forms[0].Parent!.Stages);
        Assert.Equal(["light", "heavy"], remix.Forms[0].Params.Single(p => p.Wire == "mode").Values);
    }

    [Fact]
    public void ASpecMistakeIsReportedWithItsLineAndTheFix()
    {
        var text = File.ReadAllText(Path.Combine(Paths.RepoRoot(), "spec", "midjourney.yaml")).Replace("    parent: upscaled\n    produces: grid\n    params:\n      direction:", "    parent: upscalde\n    produces: grid\n    params:\n      direction:", StringComparison.Ordinal);
        var line = text.Split('\n').ToList().FindIndex(l => l.Contains("upscalde", StringComparison.Ordinal)) + 1;
        var ex = Assert.Throws<SpecLoadException>(() => SpecLoader.Parse("my.yaml", text));
        var error = Assert.Single(ex.Errors);
        Assert.StartsWith($"my.yaml({line},", error, StringComparison.Ordinal);
        Assert.Contains("MJ0003", error, StringComparison.Ordinal);
        Assert.Contains("upscaled", error, StringComparison.Ordinal);
    }
}
