using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace MjMcp.Generators.Diagnostics;

/// <summary>
/// Turns the parser's Roslyn-free <see cref="DiagnosticInfo"/> into a Roslyn <see cref="Diagnostic"/> when it
/// is reported. Generator only: the runtime, which compiles Parsing/ and Model/, does not compile this file.
/// </summary>
internal static class DiagnosticReporting
{
    public static Diagnostic ToDiagnostic(this DiagnosticInfo info)
    {
        var descriptor = DiagnosticDescriptors.Find(info.Id);
        var span = info.Span;
        var location = Location.Create(
            info.FilePath,
            new TextSpan(span.Start, span.Length),
            new LinePositionSpan(new LinePosition(span.StartLine, span.StartColumn), new LinePosition(span.EndLine, span.EndColumn)));
        var args = new object[info.Arguments.Count];
        for (var i = 0; i < args.Length; i++)
        {
            args[i] = info.Arguments[i];
        }

        return Diagnostic.Create(descriptor, location, args);
    }
}
