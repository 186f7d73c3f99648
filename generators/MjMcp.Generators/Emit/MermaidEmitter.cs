using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Emit;

/// <summary>
/// The spec's workflow as a Mermaid <c>flowchart LR</c>: stages are boxes, results are parallelograms, and
/// every operation is an arrow from the parent stage it accepts to the stage or result it produces,
/// labelled with its name (operations between the same two nodes share one arrow, a line each). Operations
/// without a parent start at one <c>start</c> circle. An operation with
/// several forms gets one arrow per form, labelled with the values that select it (<c>variations 1-4</c>,
/// <c>variations strong/subtle</c>); a <c>parent.operations</c> rule shows as <c>(made by imagine/reroll)</c>.
/// Deterministic: spec order throughout, invariant culture, \n line ends, no trailing spaces.
/// </summary>
internal static class MermaidEmitter
{
    public static string Emit(SpecModel spec)
    {
        var builder = new StringBuilder();
        builder.Append("flowchart LR\n");
        builder.Append("    start((start))\n");
        foreach (var stage in spec.Stages)
        {
            builder.Append("    ").Append(StageId(stage.Name)).Append("[\"").Append(Escape(stage.Name + " (" + stage.ClassName + ")")).Append("\"]\n");
        }

        foreach (var result in spec.Results)
        {
            builder.Append("    ").Append(ResultId(result.Name)).Append("[/\"").Append(Escape(result.Name + " (" + result.ClassName + ")")).Append("\"/]\n");
        }

        // Parallel arrows (same parent and product) are drawn as one arrow with one line per operation:
        // Mermaid draws overlapping self-loops and bundles illegibly otherwise.
        var stages = new HashSet<string>(spec.Stages.Select(s => s.Name), System.StringComparer.Ordinal);
        var edges = new List<KeyValuePair<string, List<string>>>();
        foreach (var operation in spec.Operations)
        {
            var target = stages.Contains(operation.Produces) ? StageId(operation.Produces) : ResultId(operation.Produces);
            foreach (var form in operation.Forms)
            {
                var label = operation.Name;
                if (operation.Forms.Count > 1)
                {
                    label += " " + FormLabel(form);
                }

                if (form.Parent is { Operations.Count: > 0 } restricted)
                {
                    label += " (made by " + string.Join("/", restricted.Operations) + ")";
                }

                var sources = form.Parent is { Stages.Count: > 0 } parent ? parent.Stages.Select(StageId).ToList() : ["start"];
                foreach (var source in sources)
                {
                    var arrow = source + " --> " + target;
                    var index = edges.FindIndex(e => e.Key == arrow);
                    if (index < 0)
                    {
                        edges.Add(new KeyValuePair<string, List<string>>(arrow, [label]));
                    }
                    else if (!edges[index].Value.Contains(label))
                    {
                        edges[index].Value.Add(label);
                    }
                }
            }
        }

        foreach (var edge in edges)
        {
            var arrow = edge.Key.Split(' ');
            builder.Append("    ").Append(arrow[0]).Append(" -->|\"").Append(string.Join("<br/>", edge.Value.Select(Escape))).Append("\"| ").Append(arrow[2]).Append('\n');
        }

        return builder.ToString();
    }

    /// <summary>What selects a form: the values of its first required enum or bounded int parameter, else its name.</summary>
    private static string FormLabel(FormModel form)
    {
        foreach (var param in form.Params.Where(p => p.Required))
        {
            if (param.Kind == ParamKind.Enum && param.Values.Count > 0)
            {
                return string.Join("/", param.Values.Select(v => v.Wire));
            }

            if (param.Kind == ParamKind.Int && param.Min is { } min && param.Max is { } max)
            {
                return Number(min) + "-" + Number(max);
            }
        }

        return form.Name;
    }

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);

    private static string StageId(string name) => "stage_" + Id(name);

    private static string ResultId(string name) => "result_" + Id(name);

    /// <summary>
    /// Spec names may hold '-', which Mermaid could read as part of an arrow. Ids keep letters and digits;
    /// '_' becomes "__" and any other character "_d" ('-') or "_x" + hex, a prefix-free code, so distinct
    /// names stay distinct ids.
    /// </summary>
    private static string Id(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            {
                builder.Append(c);
            }
            else if (c == '_')
            {
                builder.Append("__");
            }
            else if (c == '-')
            {
                builder.Append("_d");
            }
            else
            {
                builder.Append("_x").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>Text inside a quoted Mermaid label: quotes and angle brackets become entity codes, line breaks spaces.</summary>
    private static string Escape(string text) =>
        text.Replace("\"", "#quot;").Replace("<", "#lt;").Replace(">", "#gt;").Replace("\r", " ").Replace("\n", " ");
}
