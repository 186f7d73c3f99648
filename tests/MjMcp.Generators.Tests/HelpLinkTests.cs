using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using MjMcp.Generators.Diagnostics;

namespace MjMcp.Generators.Tests;

/// <summary>Every descriptor links to its own section of the generator README, and that section exists.</summary>
public sealed class HelpLinkTests
{
    private static List<DiagnosticDescriptor> Descriptors() =>
        typeof(DiagnosticDescriptors).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.FieldType == typeof(DiagnosticDescriptor))
            .Select(f => (DiagnosticDescriptor)f.GetValue(null)!)
            .ToList();

    /// <summary>GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes.</summary>
    private static HashSet<string> Anchors(string markdown) =>
        Regex.Matches(markdown, "^#{1,6} +(.+?) *$", RegexOptions.Multiline)
            .Select(m => Regex.Replace(m.Groups[1].Value.Trim().ToLowerInvariant(), "[^a-z0-9 _-]", string.Empty).Replace(' ', '-'))
            .ToHashSet(StringComparer.Ordinal);

    [Fact]
    public void EveryDescriptorLinksToAnExistingReadmeSection()
    {
        var readme = File.ReadAllText(Path.Combine(Harness.RepoRoot(), "generators", "MjMcp.Generators", "README.md"));
        var anchors = Anchors(readme);
        var descriptors = Descriptors();
        Assert.Equal(13, descriptors.Count);
        foreach (var descriptor in descriptors)
        {
            var expected = "https://github.com/mjmcp/mjmcp/blob/main/generators/MjMcp.Generators/README.md#" + descriptor.Id.ToLowerInvariant();
            Assert.Equal(expected, descriptor.HelpLinkUri);
            var anchor = descriptor.HelpLinkUri.Substring(descriptor.HelpLinkUri.IndexOf('#', StringComparison.Ordinal) + 1);
            Assert.True(anchors.Contains(anchor), $"README.md has no heading for #{anchor} ({descriptor.Id})");
            Assert.Contains("| " + descriptor.Id + " |", readme, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void ReportedDiagnosticsCarryTheHelpLink()
    {
        var d = Assert.Single(Harness.Diagnostics("operations: ["));
        Assert.Equal("MJ0001", d.Id);
        Assert.EndsWith("README.md#mj0001", d.Descriptor.HelpLinkUri, StringComparison.Ordinal);
    }

    [Fact]
    public void FindKnowsEveryDescriptor()
    {
        foreach (var descriptor in Descriptors())
        {
            Assert.Same(descriptor, DiagnosticDescriptors.Find(descriptor.Id));
        }
    }
}
