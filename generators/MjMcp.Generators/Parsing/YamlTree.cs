using System.Collections.Generic;
using System.IO;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace MjMcp.Generators.Parsing;

/// <summary>A position in the YAML text: 0-based line and column.</summary>
internal readonly struct YamlPosition
{
    public YamlPosition(long line, long column)
    {
        Line = (int)line;
        Column = (int)column;
    }

    public int Line { get; }

    public int Column { get; }

    /// <summary>YamlDotNet marks are 1-based.</summary>
    public static YamlPosition FromMark(Mark mark) => new(mark.Line > 0 ? mark.Line - 1 : 0, mark.Column > 0 ? mark.Column - 1 : 0);
}

/// <summary>A node of the YAML document with its start and end in the text.</summary>
internal abstract class YamlNode
{
    protected YamlNode(YamlPosition start, YamlPosition end)
    {
        Start = start;
        End = end;
    }

    public YamlPosition Start { get; }

    public YamlPosition End { get; }

    public abstract string KindName { get; }
}

internal sealed class YamlScalar : YamlNode
{
    public YamlScalar(string value, bool plain, YamlPosition start, YamlPosition end)
        : base(start, end)
    {
        Value = value;
        IsPlain = plain;
    }

    public string Value { get; }

    /// <summary>Unquoted: only then may it be a YAML null.</summary>
    public bool IsPlain { get; }

    public bool IsNull => IsPlain && (Value.Length == 0 || Value == "~" || Value == "null" || Value == "Null" || Value == "NULL");

    public override string KindName => "a scalar";
}

internal sealed class YamlSequence : YamlNode
{
    public YamlSequence(List<YamlNode> items, YamlPosition start, YamlPosition end)
        : base(start, end) => Items = items;

    public List<YamlNode> Items { get; }

    public override string KindName => "a list";
}

internal sealed class YamlMapping : YamlNode
{
    public YamlMapping(List<KeyValuePair<YamlScalar, YamlNode>> entries, YamlPosition start, YamlPosition end)
        : base(start, end) => Entries = entries;

    /// <summary>Entries in document order; duplicates are kept so the parser can report them.</summary>
    public List<KeyValuePair<YamlScalar, YamlNode>> Entries { get; }

    public override string KindName => "a mapping";
}

/// <summary>A YAML syntax error with its position and a message without YamlDotNet's position prefix.</summary>
internal sealed class YamlSyntaxError
{
    public YamlSyntaxError(string message, YamlPosition start, YamlPosition end)
    {
        Message = message;
        Start = start;
        End = end;
    }

    public string Message { get; }

    public YamlPosition Start { get; }

    public YamlPosition End { get; }
}

/// <summary>
/// Builds a small positioned tree from YamlDotNet's event parser. Hand-written (about a hundred lines)
/// because YamlDotNet's representation model throws on duplicate keys and drops the positions of
/// keys we need for diagnostics.
/// </summary>
internal static class YamlTreeReader
{
    public static YamlNode? Read(string text, out YamlSyntaxError? error)
    {
        error = null;
        lastMark = Mark.Empty;
        try
        {
            var parser = new Parser(new StringReader(text));
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                return null;
            }

            parser.Consume<DocumentStart>();
            if (parser.Accept<DocumentEnd>(out _))
            {
                return null;
            }

            var root = ReadNode(parser, out error);
            return error is null ? root : null;
        }
        catch (YamlException ex)
        {
            error = new YamlSyntaxError(CleanMessage(ex.Message), YamlPosition.FromMark(ex.Start), YamlPosition.FromMark(ex.End));
            return null;
        }
        catch (System.InvalidOperationException)
        {
            // YamlDotNet's scanner throws this on some malformed plain scalars (seen in fuzzing): still a syntax error.
            var at = YamlPosition.FromMark(lastMark);
            error = new YamlSyntaxError("the YAML could not be read after this position (check quotes, colons and indentation)", at, at);
            return null;
        }
    }

    [System.ThreadStatic]
    private static Mark lastMark;

    private static YamlNode? ReadNode(IParser parser, out YamlSyntaxError? error)
    {
        error = null;
        if (parser.Current is { } current0)
        {
            lastMark = current0.Start;
        }

        if (parser.TryConsume<Scalar>(out var scalar))
        {
            return new YamlScalar(scalar.Value, scalar.Style == ScalarStyle.Plain, YamlPosition.FromMark(scalar.Start), YamlPosition.FromMark(scalar.End));
        }

        if (parser.TryConsume<SequenceStart>(out var sequenceStart))
        {
            var items = new List<YamlNode>();
            while (!parser.TryConsume<SequenceEnd>(out var sequenceEnd))
            {
                var item = ReadNode(parser, out error);
                if (item is null)
                {
                    return null;
                }

                items.Add(item);
            }

            return new YamlSequence(items, YamlPosition.FromMark(sequenceStart.Start), YamlPosition.FromMark(sequenceStart.End));
        }

        if (parser.TryConsume<MappingStart>(out var mappingStart))
        {
            var entries = new List<KeyValuePair<YamlScalar, YamlNode>>();
            while (!parser.TryConsume<MappingEnd>(out _))
            {
                var keyNode = ReadNode(parser, out error);
                if (keyNode is null)
                {
                    return null;
                }

                if (keyNode is not YamlScalar key)
                {
                    error = new YamlSyntaxError("only plain text keys are supported, not " + keyNode.KindName, keyNode.Start, keyNode.End);
                    return null;
                }

                var value = ReadNode(parser, out error);
                if (value is null)
                {
                    return null;
                }

                entries.Add(new KeyValuePair<YamlScalar, YamlNode>(key, value));
            }

            return new YamlMapping(entries, YamlPosition.FromMark(mappingStart.Start), YamlPosition.FromMark(mappingStart.End));
        }

        var current = parser.Current;
        var start = current is null ? default : YamlPosition.FromMark(current.Start);
        var end = current is null ? default : YamlPosition.FromMark(current.End);
        error = new YamlSyntaxError(
            current is AnchorAlias ? "anchors and aliases (*name) are not supported in the spec; write the value out" : "unexpected " + (current?.GetType().Name ?? "end of input"),
            start,
            end);
        return null;
    }

    /// <summary>YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (…): "; the location already says that.</summary>
    private static string CleanMessage(string message)
    {
        var text = message;
        while (text.StartsWith("(", System.StringComparison.Ordinal))
        {
            var close = text.IndexOf(')');
            if (close < 0)
            {
                break;
            }

            text = text.Substring(close + 1).TrimStart(' ', '-', ':');
        }

        text = text.Trim().TrimEnd('.');
        return text.Length == 0 ? "the YAML could not be read" : text;
    }
}
