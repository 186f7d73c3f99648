using Microsoft.CodeAnalysis;

namespace MjMcp.Generators.Diagnostics;

/// <summary>
/// The one catalog of MjMcp spec diagnostics. Ids are stable and never reused; every message
/// says what to change. Locations point at the YAML line and column.
/// Generator only: the parser reports ids as strings (see <see cref="DiagnosticInfo"/>), so it stays Roslyn-free.
/// </summary>
internal static class DiagnosticDescriptors
{
    private const string Category = "MjMcp.Spec";

    public static readonly DiagnosticDescriptor YamlSyntax = Create(
        "MJ0001", "YAML syntax error", "YAML syntax error: {0}. Fix the YAML at this position.");

    public static readonly DiagnosticDescriptor UnknownKey = Create(
        "MJ0002", "Unknown key", "Unknown key '{0}' in {1}{2}. Allowed keys: {3}.");

    public static readonly DiagnosticDescriptor UnknownStage = Create(
        "MJ0003", "Unknown stage", "'{0}' names no stage or result{1}. Declare it under 'stages:' or 'results:', or use one of: {2}.");

    public static readonly DiagnosticDescriptor DuplicateKey = Create(
        "MJ0004", "Duplicate key", "Duplicate {0} '{1}', first declared at line {2}. Remove or rename one of them.");

    public static readonly DiagnosticDescriptor AmbiguousForms = Create(
        "MJ0005", "Ambiguous forms", "Forms {0} and {1} of operation '{2}' both accept a {3} parent with the same '{4}' values. Give them different parents or disjoint values.");

    public static readonly DiagnosticDescriptor UnknownType = Create(
        "MJ0006", "Unknown parameter type", "Parameter '{0}' has unknown type '{1}'{2}. Use a built-in type ({3}) or declare it under 'types:'.");

    public static readonly DiagnosticDescriptor MissingKey = Create(
        "MJ0007", "Missing required key", "{0} is missing required key '{1}'. Add '{1}: {2}'.");

    public static readonly DiagnosticDescriptor WrongNodeKind = Create(
        "MJ0008", "Wrong kind of YAML node", "'{0}' must be {1}, not {2}. Write it as {3}.");

    public static readonly DiagnosticDescriptor InvalidValue = Create(
        "MJ0009", "Invalid value", "Invalid value '{0}' for '{1}': {2}.");

    public static readonly DiagnosticDescriptor UnknownOperation = Create(
        "MJ0010", "Unknown operation in a parent rule", "Parent rule names operation '{0}', which is not declared{1}. Use one of: {2}.");

    public static readonly DiagnosticDescriptor NameCollision = Create(
        "MJ0011", "Name collision", "'{0}' would generate the C# name '{1}', which {2} also generates. Rename one of them.");

    public static readonly DiagnosticDescriptor InternalError = Create(
        "MJ0999", "Internal generator error", "The MjMcp generator failed on this spec: {0}. Please report it with the spec attached.");

    /// <summary>The descriptor of an MJ id; an unknown id reads as an internal error.</summary>
    public static DiagnosticDescriptor Find(string id) => id switch
    {
        "MJ0001" => YamlSyntax,
        "MJ0002" => UnknownKey,
        "MJ0003" => UnknownStage,
        "MJ0004" => DuplicateKey,
        "MJ0005" => AmbiguousForms,
        "MJ0006" => UnknownType,
        "MJ0007" => MissingKey,
        "MJ0008" => WrongNodeKind,
        "MJ0009" => InvalidValue,
        "MJ0010" => UnknownOperation,
        "MJ0011" => NameCollision,
        _ => InternalError,
    };

    /// <summary>Each id has its own section of the generator README; GitHub anchors are the lower-case id.</summary>
    public const string HelpBase = "https://github.com/mjmcp/mjmcp/blob/main/generators/MjMcp.Generators/README.md#";

    private static DiagnosticDescriptor Create(string id, string title, string message) =>
        new(id, title, message, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            description: "See generators/MjMcp.Generators/README.md, section " + id + ".",
            helpLinkUri: HelpBase + id.ToLowerInvariant());
}
