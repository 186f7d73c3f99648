namespace MjMcp.Generators.Diagnostics;

// Roslyn-free: this file is also compiled into the runtime (see Parsing/SpecText.cs).

/// <summary>
/// Where a diagnostic stands in the spec text: a character offset and length, and the 0-based line and
/// column of its start and end. Equatable data of our own, so the parser needs no Roslyn types.
/// </summary>
internal readonly record struct SpecSpan(int Start, int Length, int StartLine, int StartColumn, int EndLine, int EndColumn)
{
    /// <summary>The offset just past the span.</summary>
    public int End => Start + Length;
}
