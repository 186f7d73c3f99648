using System;
using System.Collections.Generic;
using System.Globalization;
using MjMcp.Generators.Diagnostics;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Parsing;

/// <summary>Node access with diagnostics: every wrong shape is reported where it stands.</summary>
internal sealed partial class SpecParser
{
    private YamlMapping? AsMapping(YamlNode node, string where, string example)
    {
        if (node is YamlMapping map)
        {
            return map;
        }

        Report("MJ0008", node, where, "a mapping", Describe(node), example);
        return null;
    }

    /// <summary>
    /// The entries of a mapping by key, first occurrence wins. Reports duplicate keys (MJ0004) and, when
    /// <paramref name="allowed"/> is given, unknown keys with a "did you mean" (MJ0002). When
    /// <paramref name="entity"/> is given the keys are names of that entity and must be lower-case names.
    /// </summary>
    private Dictionary<string, YamlNode> Keys(YamlMapping map, string where, string[]? allowed, string? entity = null)
    {
        var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        var first = new Dictionary<string, YamlScalar>(StringComparer.Ordinal);
        foreach (var pair in map.Entries)
        {
            var key = pair.Key.Value;
            if (result.ContainsKey(key))
            {
                Report("MJ0004", pair.Key, entity ?? "key", key, LineNumber(first[key]));
                continue;
            }

            if (!first.ContainsKey(key))
            {
                first[key] = pair.Key;
            }

            if (allowed is not null && Array.IndexOf(allowed, key) < 0)
            {
                var closest = Names.Closest(key, allowed);
                Report("MJ0002", pair.Key, key, where, closest is null ? string.Empty : " (did you mean '" + closest + "'?)", string.Join(", ", allowed));
                continue;
            }

            if (entity is not null && !Names.IsSpecName(key))
            {
                Report("MJ0009", pair.Key, key, entity + " name", "use lower-case letters, digits, '-' and '_', starting with a letter (for example upscale-1x)");
                continue;
            }

            result[key] = pair.Value;
        }

        return result;
    }

    private string ScalarOr(Dictionary<string, YamlNode> keys, string key, string where, string fallback)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            return fallback;
        }

        if (node is YamlScalar scalar)
        {
            return scalar.IsNull ? fallback : scalar.Value;
        }

        Report("MJ0008", node, where, "a scalar", Describe(node), where.Substring(where.LastIndexOf('.') + 1) + ": value");
        return fallback;
    }

    private int IntOr(Dictionary<string, YamlNode> keys, string key, string where, int fallback)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            return fallback;
        }

        var text = ScalarOr(keys, key, where, fallback.ToString(CultureInfo.InvariantCulture));
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
        {
            return value;
        }

        Report("MJ0009", node, text, where, "it must be a whole number");
        return fallback;
    }

    private double? NumberOrNull(Dictionary<string, YamlNode> keys, string key, string where)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            return null;
        }

        var text = ScalarOr(keys, key, where, string.Empty);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && !double.IsNaN(value) && !double.IsInfinity(value))
        {
            return value;
        }

        Report("MJ0009", node, text, where, "it must be a number such as 1 or 1.5");
        return null;
    }

    private int? IntOrNull(Dictionary<string, YamlNode> keys, string key, string where)
    {
        if (!keys.ContainsKey(key))
        {
            return null;
        }

        var value = IntOr(keys, key, where, -1);
        if (value < 0)
        {
            Report("MJ0009", keys[key], value.ToString(CultureInfo.InvariantCulture), where, "it must be zero or more");
            return null;
        }

        return value;
    }

    private bool BoolOr(Dictionary<string, YamlNode> keys, string key, string where, bool fallback)
    {
        if (!keys.TryGetValue(key, out var node))
        {
            return fallback;
        }

        var text = ScalarOr(keys, key, where, string.Empty);
        if (text == "true" || text == "True")
        {
            return true;
        }

        if (text == "false" || text == "False")
        {
            return false;
        }

        Report("MJ0009", node, text, where, "use true or false");
        return fallback;
    }

    /// <summary>A scalar or a list of scalars.</summary>
    private List<string> StringList(YamlNode node, string where)
    {
        var list = new List<string>();
        if (node is YamlScalar scalar)
        {
            if (!scalar.IsNull)
            {
                list.Add(scalar.Value);
            }

            return list;
        }

        if (node is not YamlSequence sequence)
        {
            Report("MJ0008", node, where, "a list", Describe(node), "[a, b]");
            return list;
        }

        foreach (var item in sequence.Items)
        {
            if (item is YamlScalar text)
            {
                list.Add(text.Value);
            }
            else
            {
                Report("MJ0008", item, where + " item", "a scalar", Describe(item), "[a, b]");
            }
        }

        return list;
    }

    /// <summary>The 1-based line of a node, as a person counts lines (for messages such as "first declared at line 12").</summary>
    private static string LineNumber(YamlNode node) => (node.Start.Line + 1).ToString(CultureInfo.InvariantCulture);

    private static string Describe(YamlNode node) =>
        node is YamlScalar scalar ? (scalar.IsNull ? "empty" : "the scalar '" + Shorten(scalar.Value) + "'") : node.KindName;

    private static string Shorten(string text) => text.Length <= 40 ? text : text.Substring(0, 37) + "...";

    private void Report(string id, YamlNode node, params string[] arguments) => Report(id, node.Start, node is YamlScalar ? node.End : node.Start, arguments);

    private void Report(string id, YamlPosition start, YamlPosition end, params string[] arguments)
    {
        var lastLine = _text.LineCount - 1;
        var startLine = Math.Min(Math.Max(start.Line, 0), lastLine);
        var endLine = Math.Min(Math.Max(end.Line, startLine), lastLine);
        var startPosition = Offset(startLine, start.Column);
        var endPosition = Math.Max(startPosition, Offset(endLine, endLine == startLine ? Math.Max(end.Column, start.Column) : end.Column));
        var span = new SpecSpan(
            startPosition,
            endPosition - startPosition,
            startLine,
            startPosition - _text.LineStart(startLine),
            endLine,
            endPosition - _text.LineStart(endLine));
        _diagnostics.Add(new DiagnosticInfo(id, _path, span, arguments.ToEquatableArray()));
        _reportedAt.Add(start);
    }

    private int Offset(int line, int column)
    {
        var start = _text.LineStart(line);
        return start + Math.Min(Math.Max(column, 0), _text.LineEnd(line) - start);
    }
}
