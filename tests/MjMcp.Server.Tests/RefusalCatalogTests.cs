using System.Reflection;
using System.Text.RegularExpressions;

namespace MjMcp.Server.Tests;

/// <summary>
/// Every refusal code the server can emit is in <see cref="RefusalCodes"/> with its meaning, and README's refusal
/// table documents exactly those codes.
/// </summary>
public sealed partial class RefusalCatalogTests
{
    [Fact]
    public void EveryConstantHasItsMeaning()
    {
        var constants = typeof(RefusalCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();
        Assert.Equal(constants.Order(StringComparer.Ordinal), RefusalCodes.All.Keys.Order(StringComparer.Ordinal));
        Assert.All(RefusalCodes.All, pair =>
        {
            Assert.Matches("^[a-z]+(_[a-z]+)*$", pair.Key);
            Assert.False(string.IsNullOrWhiteSpace(pair.Value), pair.Key);
        });
    }

    [Fact]
    public void EveryRefusalSiteUsesACatalogCode()
    {
        // The first argument of every Refuse(...)/Refusal(...) call in the server's sources: a RefusalCodes constant
        // (the compiler checks it), the code of a provider error (a switch of constants), or a literal that must be
        // in the catalog.
        var sites = 0;
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Paths.RepoRoot(), "src", "MjMcp.Server"), "*.cs"))
        {
            var source = File.ReadAllText(file);
            foreach (Match call in RefuseCall().Matches(source))
            {
                var first = FirstArgument(source, call.Index + call.Length);
                sites++;
                foreach (Match literal in Literal().Matches(first))
                {
                    Assert.True(RefusalCodes.All.ContainsKey(literal.Groups[1].Value), $"{Path.GetFileName(file)}: refusal code \"{literal.Groups[1].Value}\" is not in RefusalCodes");
                }
            }

            foreach (Match literal in Regex.Matches(source, "(?:=> |WriteString\\(\"code\", )\"([a-z]+(?:_[a-z]+)+)\"[,)]"))
            {
                Assert.True(RefusalCodes.All.ContainsKey(literal.Groups[1].Value), $"{Path.GetFileName(file)}: code \"{literal.Groups[1].Value}\" is not in RefusalCodes");
            }
        }

        Assert.True(sites >= 20, $"only {sites} refusal sites found: has Refuse been renamed?");
    }

    [Fact]
    public void ReadmeDocumentsEveryCode()
    {
        var readme = File.ReadAllText(Path.Combine(Paths.RepoRoot(), "README.md"));
        var documented = TableRow().Matches(readme).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(RefusalCodes.All.Keys.Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    private static string FirstArgument(string source, int start)
    {
        var depth = 0;
        for (var i = start; i < source.Length; i++)
        {
            switch (source[i])
            {
                case '(':
                    depth++;
                    break;
                case ')' when depth == 0:
                case ',' when depth == 0:
                    return source[start..i];
                case ')':
                    depth--;
                    break;
            }
        }

        return source[start..];
    }

    [GeneratedRegex(@"\bRefus(?:e|al)\(")]
    private static partial Regex RefuseCall();

    [GeneratedRegex("\"([a-z]+(?:_[a-z]+)*)\"")]
    private static partial Regex Literal();

    [GeneratedRegex(@"^\| `([a-z_]+)` \|", RegexOptions.Multiline)]
    private static partial Regex TableRow();
}
