using System;
using System.Collections.Generic;

// Parsing/ and Model/ (with Diagnostics/DiagnosticInfo.cs and Diagnostics/SpecSpan.cs) are also compiled
// into the runtime, which references YamlDotNet but not Microsoft.CodeAnalysis: keep them Roslyn-free.
// Roslyn types (SourceText, Location, DiagnosticDescriptor) belong in SpecGenerator.cs and
// Diagnostics/DiagnosticReporting.cs / DiagnosticDescriptors.cs only.

namespace MjMcp.Generators.Parsing;

/// <summary>
/// The spec text split into lines, to turn YAML line/column positions into offsets. Line breaks are those
/// of YAML and of Roslyn's SourceText: CR LF, CR, LF, NEL (U+0085), LS (U+2028) and PS (U+2029).
/// There is always at least one line.
/// </summary>
internal sealed class SpecText
{
    private readonly List<int> _starts = [0];
    private readonly List<int> _ends = [];

    public SpecText(string text)
    {
        Text = text ?? string.Empty;
        var i = 0;
        while (i < Text.Length)
        {
            var c = Text[i];
            if (c == '\r' || c == '\n' || c == '\u0085' || c == '\u2028' || c == '\u2029')
            {
                _ends.Add(i);
                i += c == '\r' && i + 1 < Text.Length && Text[i + 1] == '\n' ? 2 : 1;
                _starts.Add(i);
            }
            else
            {
                i++;
            }
        }

        _ends.Add(Text.Length);
    }

    public string Text { get; }

    public int LineCount => _starts.Count;

    /// <summary>The offset of the first character of a 0-based line.</summary>
    public int LineStart(int line) => _starts[Clamp(line)];

    /// <summary>The offset just past the last character of a line, before its line break.</summary>
    public int LineEnd(int line) => _ends[Clamp(line)];

    private int Clamp(int line) => Math.Min(Math.Max(line, 0), _starts.Count - 1);
}
