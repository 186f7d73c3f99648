using System.Collections.Generic;
using System.Linq;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Parsing;

/// <summary>
/// Error recovery: an error confined to one operation drops that operation, not the whole model, so a
/// consumer sees the MJ error and not also every use of the generated client as a C# error.
/// </summary>
/// <remarks>
/// A diagnostic belongs to the operation whose entry under 'operations:' holds its position (from the
/// operation's key up to the next operation's key, or the end of the section). Any other diagnostic (YAML
/// syntax, provider, stages, results, types, or 'operations:' itself) is fatal: no model. Operations whose
/// <c>parent.operations</c> named only dropped operations are dropped as well; names of dropped operations are
/// removed from the other restrictions, so the model never names an operation it does not hold.
/// </remarks>
internal sealed partial class SpecParser
{
    /// <summary>
    /// Every key of the 'operations:' mapping in document order with the operation it declares; a repeated
    /// key declares none (the first declaration wins, so an error in the repeat drops nothing).
    /// </summary>
    private readonly List<KeyValuePair<YamlPosition, string?>> _operationEntries = [];

    /// <summary>Where the root entry after 'operations:' starts; null when 'operations:' is the last.</summary>
    private YamlPosition? _operationsEnd;

    private void MarkOperationsSection(YamlMapping top, YamlNode operationsNode)
    {
        var index = top.Entries.FindIndex(e => ReferenceEquals(e.Value, operationsNode));
        if (index >= 0 && index + 1 < top.Entries.Count)
        {
            _operationsEnd = top.Entries[index + 1].Key.Start;
        }

        if (operationsNode is YamlMapping map)
        {
            var seen = new HashSet<string>(System.StringComparer.Ordinal);
            foreach (var entry in map.Entries)
            {
                _operationEntries.Add(new KeyValuePair<YamlPosition, string?>(entry.Key.Start, seen.Add(entry.Key.Value) ? entry.Key.Value : null));
            }
        }
    }

    /// <summary>The operations to keep, or false when an error is not confined to operations.</summary>
    private bool Recover(List<OperationModel> operations, out List<OperationModel> kept)
    {
        kept = operations;
        if (_diagnostics.Count == 0)
        {
            return true;
        }

        var dropped = new HashSet<string>(System.StringComparer.Ordinal);
        foreach (var position in _reportedAt)
        {
            if (!InOperation(position, out var owner))
            {
                return false;
            }

            if (owner is not null)
            {
                dropped.Add(owner);
            }
        }

        kept = operations.Where(o => !dropped.Contains(o.Name)).ToList();
        bool removedAny;
        do
        {
            removedAny = false;
            var names = new HashSet<string>(kept.Select(o => o.Name), System.StringComparer.Ordinal);
            for (var i = kept.Count - 1; i >= 0; i--)
            {
                if (WithoutDropped(kept[i], names) is { } operation)
                {
                    kept[i] = operation;
                }
                else
                {
                    kept.RemoveAt(i);
                    removedAny = true;
                }
            }
        }
        while (removedAny);

        return true;
    }

    /// <summary>
    /// Whether a position lies in an entry of 'operations:'; <paramref name="owner"/> is the operation the
    /// entry declares (null for a repeated key).
    /// </summary>
    private bool InOperation(YamlPosition position, out string? owner)
    {
        owner = null;
        if (_operationsEnd is { } end && !Before(position, end))
        {
            return false;
        }

        var inside = false;
        foreach (var entry in _operationEntries)
        {
            if (Before(position, entry.Key))
            {
                break;
            }

            inside = true;
            owner = entry.Value;
        }

        return inside;
    }

    private static bool Before(YamlPosition a, YamlPosition b) => a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column);

    /// <summary>The operation with its parent rules limited to kept operations; null when a rule would be left empty.</summary>
    private static OperationModel? WithoutDropped(OperationModel operation, HashSet<string> kept)
    {
        var forms = new List<FormModel>();
        var changed = false;
        foreach (var form in operation.Forms)
        {
            if (form.Parent is not { Operations.Count: > 0 } parent || parent.Operations.All(kept.Contains))
            {
                forms.Add(form);
                continue;
            }

            var remaining = parent.Operations.Where(kept.Contains).ToList();
            if (remaining.Count == 0)
            {
                // An empty list would mean "made by any operation": wider than the spec says.
                return null;
            }

            forms.Add(form with { Parent = parent with { Operations = remaining.ToEquatableArray() } });
            changed = true;
        }

        return changed ? operation with { Forms = forms.ToEquatableArray() } : operation;
    }
}
