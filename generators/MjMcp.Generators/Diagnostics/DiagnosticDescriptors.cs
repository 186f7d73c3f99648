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

    public static readonly DiagnosticDescriptor YamlSyntax = Create("MJ0001");

    public static readonly DiagnosticDescriptor UnknownKey = Create("MJ0002");

    public static readonly DiagnosticDescriptor UnknownStage = Create("MJ0003");

    public static readonly DiagnosticDescriptor DuplicateKey = Create("MJ0004");

    public static readonly DiagnosticDescriptor AmbiguousForms = Create("MJ0005");

    public static readonly DiagnosticDescriptor UnknownType = Create("MJ0006");

    public static readonly DiagnosticDescriptor MissingKey = Create("MJ0007");

    public static readonly DiagnosticDescriptor WrongNodeKind = Create("MJ0008");

    public static readonly DiagnosticDescriptor InvalidValue = Create("MJ0009");

    public static readonly DiagnosticDescriptor UnknownOperation = Create("MJ0010");

    public static readonly DiagnosticDescriptor NameCollision = Create("MJ0011");

    public static readonly DiagnosticDescriptor CreditsByValue = Create("MJ0012");

    public static readonly DiagnosticDescriptor InternalError = Create("MJ0999");

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
        "MJ0012" => CreditsByValue,
        _ => InternalError,
    };

    /// <summary>Each id has its own section of the generator README; GitHub anchors are the lower-case id.</summary>
    public const string HelpBase = "https://github.com/mjmcp/mjmcp/blob/main/generators/MjMcp.Generators/README.md#";

    private static DiagnosticDescriptor Create(string id) =>
        new(id, DiagnosticMessages.Of(id).Title, DiagnosticMessages.Of(id).Format, Category, DiagnosticSeverity.Error, isEnabledByDefault: true,
            description: "See generators/MjMcp.Generators/README.md, section " + id + ".",
            helpLinkUri: HelpBase + id.ToLowerInvariant());
}
