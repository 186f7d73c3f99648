namespace MjMcp.Packaging.Tests;

/// <summary>What nuget.org shows for each package: one version, a description, a readme, the licence, tags, symbols.</summary>
[Collection(PackedFeedCollection.Name)]
public sealed class MetadataTests
{
    private readonly PackedFeed _feed;

    public MetadataTests(PackedFeed feed) => _feed = feed;

    [Fact]
    public void EveryPackageHasMetadata()
    {
        var packages = Directory.GetFiles(_feed.FeedDirectory, "*.nupkg").Select(Nupkg.Read).ToArray();

        foreach (var package in packages)
        {
            var id = package.Id;
            var description = package.Value("description");
            Assert.False(string.IsNullOrWhiteSpace(description) || description == "Package Description", $"{id}: set <Description> in its csproj");

            var readme = package.Value("readme");
            Assert.False(string.IsNullOrEmpty(readme), $"{id}: no <readme> (put a README.md in the project folder)");
            Assert.Contains(readme!.Replace('\\', '/'), package.Entries);

            var license = package.Element("license");
            Assert.NotNull(license);
            Assert.Equal("expression", (string?)license!.Attribute("type"));
            Assert.Equal("MIT", license.Value);

            var tags = (package.Value("tags") ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Contains("midjourney", tags);
            Assert.Contains("mcp", tags);

            Assert.Equal("https://github.com/mjmcp/mjmcp", package.Value("projectUrl"));
            Assert.Equal("https://github.com/mjmcp/mjmcp", (string?)package.Element("repository")?.Attribute("url"));

            var symbols = Path.ChangeExtension(package.Path, ".snupkg");
            if (package.PackageTypes.Contains("Template"))
            {
                Assert.False(File.Exists(symbols), $"{id}: a template package has no symbols");
            }
            else
            {
                Assert.True(File.Exists(symbols), $"{id}: no {Path.GetFileName(symbols)} beside it");
            }
        }

        Assert.All(packages, p => Assert.Equal(_feed.Version, p.Version));
        Assert.Equal(
            PackedFeed.PackageIds.Order(StringComparer.OrdinalIgnoreCase),
            packages.Select(p => p.Id).Order(StringComparer.OrdinalIgnoreCase),
            StringComparer.OrdinalIgnoreCase);
    }
}
