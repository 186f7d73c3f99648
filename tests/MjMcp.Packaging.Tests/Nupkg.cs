using System.IO.Compression;
using System.Xml.Linq;

namespace MjMcp.Packaging.Tests;

/// <summary>What a .nupkg says about itself: its nuspec and its file list.</summary>
internal sealed class Nupkg
{
    private Nupkg(string path, XElement metadata, IReadOnlyList<string> entries, Func<string, string?> readEntry)
    {
        Path = path;
        Metadata = metadata;
        Entries = entries;
        ReadEntry = readEntry;
    }

    public string Path { get; }

    public XElement Metadata { get; }

    public IReadOnlyList<string> Entries { get; }

    public Func<string, string?> ReadEntry { get; }

    public string Id => Value("id") ?? string.Empty;

    public string Version => Value("version") ?? string.Empty;

    public IReadOnlyList<string> PackageTypes =>
        Metadata.Elements().Where(e => e.Name.LocalName == "packageTypes").Elements().Select(e => (string?)e.Attribute("name") ?? string.Empty).ToArray();

    public IReadOnlyList<string> DependencyIds =>
        Metadata.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string?)e.Attribute("id") ?? string.Empty).ToArray();

    public string? Value(string element) => Metadata.Elements().FirstOrDefault(e => e.Name.LocalName == element)?.Value;

    public XElement? Element(string element) => Metadata.Elements().FirstOrDefault(e => e.Name.LocalName == element);

    public static Nupkg Read(string path)
    {
        var contents = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var entries = new List<string>();
        XElement? metadata = null;
        using (var zip = ZipFile.OpenRead(path))
        {
            foreach (var entry in zip.Entries)
            {
                var name = Uri.UnescapeDataString(entry.FullName);
                entries.Add(name);
                if (entry.Length > 512 * 1024 || name.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                using var reader = new StreamReader(entry.Open());
                var text = reader.ReadToEnd();
                contents[name] = text;
                if (!name.Contains('/', StringComparison.Ordinal) && name.EndsWith(".nuspec", StringComparison.OrdinalIgnoreCase))
                {
                    metadata = XDocument.Parse(text).Root!.Elements().First(e => e.Name.LocalName == "metadata");
                }
            }
        }

        return new Nupkg(path, metadata ?? throw new InvalidDataException($"{path} has no nuspec"), entries, n => contents.TryGetValue(n, out var t) ? t : null);
    }
}
