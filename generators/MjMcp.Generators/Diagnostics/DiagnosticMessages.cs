using System.Globalization;

namespace MjMcp.Generators.Diagnostics;

/// <summary>
/// The title and message format of every MJ diagnostic, without Roslyn: the generator's descriptors are made
/// from it, and the runtime (which compiles Parsing/, Model/ and this file) formats the same messages.
/// Ids are stable and never reused; every message says what to change.
/// </summary>
internal static class DiagnosticMessages
{
    /// <summary>The title and format of an id; an unknown id reads as an internal error.</summary>
    public static (string Title, string Format) Of(string id) => id switch
    {
        "MJ0001" => ("YAML syntax error", "YAML syntax error: {0}. Fix the YAML at this position."),
        "MJ0002" => ("Unknown key", "Unknown key '{0}' in {1}{2}. Allowed keys: {3}."),
        "MJ0003" => ("Unknown stage", "'{0}' names no stage or result{1}. Declare it under 'stages:' or 'results:', or use one of: {2}."),
        "MJ0004" => ("Duplicate key", "Duplicate {0} '{1}', first declared at line {2}. Remove or rename one of them."),
        "MJ0005" => ("Ambiguous forms", "Forms {0} and {1} of operation '{2}' both accept a {3} parent with the same '{4}' values. Give them different parents or disjoint values."),
        "MJ0006" => ("Unknown parameter type", "Parameter '{0}' has unknown type '{1}'{2}. Use a built-in type ({3}) or declare it under 'types:'."),
        "MJ0007" => ("Missing required key", "{0} is missing required key '{1}'. Add '{1}: {2}'."),
        "MJ0008" => ("Wrong kind of YAML node", "'{0}' must be {1}, not {2}. Write it as {3}."),
        "MJ0009" => ("Invalid value", "Invalid value '{0}' for '{1}': {2}."),
        "MJ0010" => ("Unknown operation in a parent rule", "Parent rule names operation '{0}', which is not declared{1}. Use one of: {2}."),
        "MJ0011" => ("Name collision", "'{0}' would generate the C# name '{1}', which {2} also generates. Rename one of them."),
        "MJ0012" => ("Invalid per-value credits", "Credits of operation '{0}': {1}. {2}."),
        _ => ("Internal generator error", "The MjMcp generator failed on this spec: {0}. Please report it with the spec attached."),
    };

    /// <summary>The message of a diagnostic, formatted with the invariant culture.</summary>
    public static string Format(DiagnosticInfo info)
    {
        var format = Of(info.Id).Format;
        var args = new object[info.Arguments.Count];
        for (var i = 0; i < args.Length; i++)
        {
            args[i] = info.Arguments[i];
        }

        return string.Format(CultureInfo.InvariantCulture, format, args);
    }
}
