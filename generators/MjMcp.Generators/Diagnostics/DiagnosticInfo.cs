using MjMcp.Generators.Model;

namespace MjMcp.Generators.Diagnostics;

// Roslyn-free: this file is also compiled into the runtime (see Parsing/SpecText.cs). The conversion to a
// Roslyn Diagnostic lives in DiagnosticReporting.cs, which only the generator compiles.

/// <summary>
/// A diagnostic carried as equatable data (no Roslyn Location, which could hold a syntax tree): an MJ id,
/// the spec's path, where it stands, and the message arguments of the id's descriptor.
/// </summary>
internal sealed record DiagnosticInfo(string Id, string FilePath, SpecSpan Span, EquatableArray<string> Arguments);
