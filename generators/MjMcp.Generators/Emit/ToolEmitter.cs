using MjMcp.Generators.Model;

namespace MjMcp.Generators.Emit;

/// <summary>Emits the MCP server's tools (one per operation). Filled in with the server.</summary>
internal static class ToolEmitter
{
    public static string Emit(SpecModel spec, string ns)
    {
        var w = SourceWriter.Start(ns);
        w.Line("// " + spec.Operations.Count.ToString(System.Globalization.CultureInfo.InvariantCulture) + " operations.");
        return w.ToString();
    }
}
