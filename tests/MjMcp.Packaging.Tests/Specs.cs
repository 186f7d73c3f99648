namespace MjMcp.Packaging.Tests;

/// <summary>Consumer specs: the repository's spec with an operation of the consumer's own.</summary>
internal static class Specs
{
    /// <summary>An operation the shipped spec does not have, written the way spec/midjourney.yaml writes operations.</summary>
    public static string Remix(string parent = "upscaled") => string.Join('\n',
        "  remix:",
        "    path: /remix",
        "    task_type: remix",
        "    credits: 4",
        "    summary: Redraw an upscaled image with a light or heavy remix of its prompt, giving a new grid.",
        $"    parent: {parent}",
        "    produces: grid",
        "    params:",
        "      mode:",
        "        type: enum",
        "        required: true",
        "        values: [light, heavy]",
        "        summary: How far the remix may move from the image.",
        "      prompt: { type: prompt, summary: A replacement prompt (default the parent's prompt). }",
        string.Empty);

    /// <summary>The spec with <paramref name="operation"/> as the first entry under the top-level `operations:`.</summary>
    public static string WithOperation(string spec, string operation)
    {
        var lines = spec.ReplaceLineEndings("\n").Split('\n').ToList();
        var at = lines.FindIndex(l => l.TrimEnd() == "operations:");
        Assert.True(at >= 0, "the spec has no top-level operations: section");
        lines.Insert(at + 1, operation.TrimEnd('\n'));
        return string.Join('\n', lines);
    }

    /// <summary>The 1-based line of the first line of <paramref name="text"/> that equals <paramref name="line"/> after trimming.</summary>
    public static int LineOf(string text, string line)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        var index = Array.FindIndex(lines, l => l.Trim() == line);
        Assert.True(index >= 0, $"no line '{line}'");
        return index + 1;
    }
}
