using System.Collections;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace MjMcp.Generators.Tests;

/// <summary>The pipeline caches: C# edits and comment-only YAML edits do no work; a spec change does.</summary>
public sealed class CachingTests
{
    private static readonly string[] Steps = [TrackingNames.Parse, TrackingNames.Diagnostics, TrackingNames.Options, TrackingNames.Model, TrackingNames.Emit];

    [Fact]
    public void UnrelatedCSharpEditLeavesEveryStepCached()
    {
        var text = new MemoryText("/spec/midjourney.yaml", Harness.RealSpec());
        var compilation = Harness.EmptyCompilation("class A { }");
        var driver = Harness.Driver([text]).RunGenerators(compilation);
        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class B { int x; }", Harness.ParseOptions)));
        var result = driver.GetRunResult().Results[0];
        foreach (var step in Steps.Where(result.TrackedSteps.ContainsKey))
        {
            Assert.All(result.TrackedSteps[step].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
        }

        Assert.All(result.TrackedOutputSteps.SelectMany(s => s.Value).SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Cached, o.Reason));
    }

    [Fact]
    public void CommentOnlyYamlEditLeavesTheModelUnchanged()
    {
        var spec = Harness.RealSpec();
        var original = new MemoryText("/spec/midjourney.yaml", spec);
        var driver = Harness.Driver([original]).RunGenerators(Harness.EmptyCompilation());
        var edited = "# a new comment\n" + spec.Replace("  imagine:\n", "  imagine:    # trailing comment\n", StringComparison.Ordinal) + "\n\n";
        Assert.NotEqual(spec, edited);
        driver = driver.ReplaceAdditionalText(original, new MemoryText("/spec/midjourney.yaml", edited)).RunGenerators(Harness.EmptyCompilation());
        var result = driver.GetRunResult().Results[0];
        Assert.All(result.TrackedSteps[TrackingNames.Parse].SelectMany(s => s.Outputs), o => Assert.Equal(IncrementalStepRunReason.Unchanged, o.Reason));
        Assert.All(result.TrackedSteps[TrackingNames.Emit].SelectMany(s => s.Outputs), o => Assert.True(o.Reason is IncrementalStepRunReason.Cached or IncrementalStepRunReason.Unchanged, o.Reason.ToString()));
    }

    [Fact]
    public void NewOperationIsModified()
    {
        var spec = Harness.RealSpec();
        var original = new MemoryText("/spec/midjourney.yaml", spec);
        var driver = Harness.Driver([original]).RunGenerators(Harness.EmptyCompilation());
        driver = driver.ReplaceAdditionalText(original, new MemoryText("/spec/midjourney.yaml", spec + RegenerationTests.ZoomOperation)).RunGenerators(Harness.EmptyCompilation());
        var result = driver.GetRunResult().Results[0];
        Assert.Contains(result.TrackedSteps[TrackingNames.Parse].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
        Assert.Contains(result.TrackedSteps[TrackingNames.Emit].SelectMany(s => s.Outputs), o => o.Reason == IncrementalStepRunReason.Modified);
    }

    [Fact]
    public void StepOutputsHoldNoCompilationSymbolsOrSyntax()
    {
        var driver = Harness.Driver([new MemoryText("/spec/midjourney.yaml", Harness.RealSpec())]).RunGenerators(Harness.EmptyCompilation());
        var result = driver.GetRunResult().Results[0];
        var checkedAny = false;
        foreach (var step in result.TrackedSteps.Where(s => Steps.Contains(s.Key)).SelectMany(s => s.Value))
        {
            foreach (var (value, _) in step.Outputs)
            {
                checkedAny = true;
                AssertClean(value, new HashSet<object>(ReferenceEqualityComparer.Instance), 0);
            }
        }

        Assert.True(checkedAny);
    }

    private static void AssertClean(object? value, HashSet<object> seen, int depth)
    {
        if (value is null || depth > 12 || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum || !seen.Add(value))
        {
            return;
        }

        Assert.False(value is Compilation or ISymbol or SyntaxNode or SemanticModel or SyntaxTree, $"A step output holds a {value.GetType().Name}.");
        if (value is IEnumerable items)
        {
            foreach (var item in items)
            {
                AssertClean(item, seen, depth + 1);
            }
        }

        foreach (var property in value.GetType().GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length == 0 && property.Name != "EqualityContract")
            {
                AssertClean(property.GetValue(value), seen, depth + 1);
            }
        }

        foreach (var field in value.GetType().GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance))
        {
            AssertClean(field.GetValue(value), seen, depth + 1);
        }
    }
}
