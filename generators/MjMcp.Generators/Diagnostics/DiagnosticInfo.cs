using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Diagnostics;

/// <summary>
/// A diagnostic carried as equatable data (no <see cref="Location"/>, which could hold a syntax tree);
/// turned into a <see cref="Diagnostic"/> only when it is reported.
/// </summary>
internal sealed record DiagnosticInfo(string Id, string FilePath, TextSpan Span, LinePositionSpan LineSpan, EquatableArray<string> Arguments)
{
    public Diagnostic ToDiagnostic()
    {
        var descriptor = Find(Id);
        var location = Location.Create(FilePath, Span, LineSpan);
        var args = new object[Arguments.Count];
        for (var i = 0; i < args.Length; i++)
        {
            args[i] = Arguments[i];
        }

        return Diagnostic.Create(descriptor, location, args);
    }

    private static DiagnosticDescriptor Find(string id) => id switch
    {
        "MJ0001" => DiagnosticDescriptors.YamlSyntax,
        "MJ0002" => DiagnosticDescriptors.UnknownKey,
        "MJ0003" => DiagnosticDescriptors.UnknownStage,
        "MJ0004" => DiagnosticDescriptors.DuplicateKey,
        "MJ0005" => DiagnosticDescriptors.AmbiguousForms,
        "MJ0006" => DiagnosticDescriptors.UnknownType,
        "MJ0007" => DiagnosticDescriptors.MissingKey,
        "MJ0008" => DiagnosticDescriptors.WrongNodeKind,
        "MJ0009" => DiagnosticDescriptors.InvalidValue,
        "MJ0010" => DiagnosticDescriptors.UnknownOperation,
        "MJ0011" => DiagnosticDescriptors.NameCollision,
        _ => DiagnosticDescriptors.InternalError,
    };
}
