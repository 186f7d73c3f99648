using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MjMcp.Generators.Diagnostics;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Parsing;

/// <summary>
/// Reads a spec: YAML text → positioned tree → validated <see cref="SpecModel"/> plus diagnostics.
/// Never throws for bad input; every problem becomes an MJ diagnostic at its YAML position.
/// Roslyn-free (also compiled into the runtime; see SpecText.cs): it takes the path and text as strings.
/// </summary>
internal sealed partial class SpecParser
{
    private static readonly string[] RootKeys = ["provider", "stages", "results", "types", "operations"];
    private static readonly string[] ProviderKeys = ["name", "base_url", "auth", "fetch", "fetch_many", "account", "status", "common_params", "upload"];
    private static readonly string[] UploadKeys = ["path", "field", "result"];
    private static readonly string[] AuthKeys = ["header", "scheme"];
    private static readonly string[] FetchManyKeys = ["path", "min", "max"];
    private static readonly string[] StatusKeys = ["pending", "running", "retrying", "finished", "failed"];
    private static readonly string[] StageKeys = ["class", "images", "summary"];
    private static readonly string[] ResultKeys = ["class", "summary", "fields"];
    private static readonly string[] FieldKeys = ["type", "wire", "summary"];
    private static readonly string[] TypeKeys = ["type", "summary", "default", "values", "enum_name", "min", "max", "min_length", "max_length", "min_items", "max_items", "pattern", "wire_type", "secret"];
    private static readonly string[] ParamKeys = ["type", "required", "summary", "default", "wire", "name", "values", "enum_name", "min", "max", "min_length", "max_length", "min_items", "max_items", "pattern", "wire_type", "secret"];
    private static readonly string[] OperationKeys = ["path", "task_type", "credits", "summary", "parent", "produces", "params", "forms"];
    private static readonly string[] FormKeys = ["name", "parent", "summary", "params"];
    private static readonly string[] ParentKeys = ["stage", "stages", "operations", "field"];
    private static readonly string[] BuiltinTypes = ["string", "int", "number", "bool", "url", "url-list", "image-data", "enum"];

    private readonly string _path;
    private readonly SpecText _text;
    private readonly List<DiagnosticInfo> _diagnostics = [];
    private readonly List<YamlPosition> _reportedAt = [];
    private readonly Dictionary<string, YamlMapping> _types = new(StringComparer.Ordinal);
    private readonly Dictionary<string, YamlPosition> _positions = new(StringComparer.Ordinal);

    private SpecParser(string path, string text)
    {
        _path = path ?? string.Empty;
        _text = new SpecText(text);
    }

    /// <summary>
    /// Parses and validates one spec. The diagnostics hold every error. The model is null after a YAML
    /// syntax error or an error outside 'operations:' (provider, stages, results, types); an error inside
    /// one operation only leaves that operation out of the model (see SpecParser.Recovery.cs).
    /// </summary>
    public static (SpecModel? Model, EquatableArray<DiagnosticInfo> Diagnostics) Parse(string path, string text)
    {
        var parser = new SpecParser(path, text);
        SpecModel? model;
        try
        {
            model = parser.ParseDocument();
        }
#pragma warning disable CA1031 // The generator must never throw: an unexpected failure becomes MJ0999.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            parser.Report("MJ0999", default(YamlPosition), default(YamlPosition), ex.GetType().Name + ": " + ex.Message);
            model = null;
        }

        return (model, parser._diagnostics.ToEquatableArray());
    }

    private SpecModel? ParseDocument()
    {
        var root = YamlTreeReader.Read(_text.Text, out var syntaxError);
        if (syntaxError is not null)
        {
            if (syntaxError.Message.IndexOf("tab", StringComparison.OrdinalIgnoreCase) >= 0 && FindTab(syntaxError.Start) is { } tab)
            {
                // YamlDotNet marks where the scalar or mapping began (often the line before, or the top):
                // point at the tab itself.
                Report("MJ0001", tab, new YamlPosition(tab.Line, tab.Column + 1), syntaxError.Message);
            }
            else
            {
                Report("MJ0001", syntaxError.Start, syntaxError.End, syntaxError.Message);
            }

            return null;
        }

        if (root is null)
        {
            Report("MJ0007", default(YamlPosition), default(YamlPosition), "The spec", "operations", "{ imagine: { path: /imagine, summary: …, produces: grid } }");
            return null;
        }

        var top = AsMapping(root, "the spec", "a mapping with keys provider, stages, results, types and operations");
        if (top is null)
        {
            return null;
        }

        var keys = Keys(top, "the spec", RootKeys);
        if (!keys.TryGetValue("operations", out var operationsNode))
        {
            Report("MJ0007", top.Start, top.Start, "The spec", "operations", "{ imagine: { path: /imagine, summary: …, produces: grid } }");
            return null;
        }

        var provider = keys.TryGetValue("provider", out var providerNode) ? ParseProvider(providerNode) : DefaultProvider();
        var stages = keys.TryGetValue("stages", out var stagesNode) ? ParseStages(stagesNode) : [];
        var results = keys.TryGetValue("results", out var resultsNode) ? ParseResults(resultsNode) : [];
        if (keys.TryGetValue("types", out var typesNode))
        {
            CollectTypes(typesNode);
        }

        MarkOperationsSection(top, operationsNode);
        var operations = ParseOperations(operationsNode, stages, results);
        CheckCollisions(stages, results, operations);
        if (!Recover(operations, out var kept))
        {
            return null;
        }

        return new SpecModel(
            _path,
            provider,
            stages.ToEquatableArray(),
            results.ToEquatableArray(),
            kept.ToEquatableArray());
    }

    /// <summary>
    /// The tab a YAML tab error is about: the first tab in a line's indentation at or after
    /// <paramref name="from"/>, else the first tab at all from there.
    /// </summary>
    private YamlPosition? FindTab(YamlPosition from)
    {
        YamlPosition? any = null;
        for (var line = Math.Max(from.Line, 0); line < _text.LineCount; line++)
        {
            var start = _text.LineStart(line);
            var length = _text.LineEnd(line) - start;
            var indentation = true;
            for (var column = 0; column < length; column++)
            {
                var c = _text.Text[start + column];
                indentation = indentation && (c == ' ' || c == '\t');
                if (c != '\t' || (line == from.Line && column < from.Column))
                {
                    continue;
                }

                if (indentation)
                {
                    return new YamlPosition(line, column);
                }

                any ??= new YamlPosition(line, column);
            }
        }

        return any;
    }

    // ---- provider -------------------------------------------------------------------------

    private static ProviderModel DefaultProvider() => new(
        "provider", "https://api.apiframe.pro", "Authorization", string.Empty, "/fetch", "/fetch-many", 2, 20, "/account",
        EquatableArray<StatusModel>.Empty, EquatableArray<ParamModel>.Empty, null);

    private ProviderModel ParseProvider(YamlNode node)
    {
        var fallback = DefaultProvider();
        var map = AsMapping(node, "provider", "a mapping (provider: { base_url: …, auth: … })");
        if (map is null)
        {
            return fallback;
        }

        var keys = Keys(map, "provider", ProviderKeys);
        var name = ScalarOr(keys, "name", "provider.name", fallback.Name);
        var baseUrl = ScalarOr(keys, "base_url", "provider.base_url", fallback.BaseUrl);
        if (keys.TryGetValue("base_url", out var baseUrlNode) && !(baseUrl.StartsWith("https://", StringComparison.Ordinal) || baseUrl.StartsWith("http://", StringComparison.Ordinal)))
        {
            Report("MJ0009", baseUrlNode, baseUrl, "provider.base_url", "it must be an absolute http(s) URL such as https://api.apiframe.pro");
        }

        var header = fallback.AuthHeader;
        var scheme = fallback.AuthScheme;
        if (keys.TryGetValue("auth", out var authNode) && AsMapping(authNode, "provider.auth", "a mapping (auth: { header: Authorization, scheme: \"\" })") is { } authMap)
        {
            var auth = Keys(authMap, "provider.auth", AuthKeys);
            header = ScalarOr(auth, "header", "provider.auth.header", header);
            scheme = ScalarOr(auth, "scheme", "provider.auth.scheme", scheme);
        }

        var fetch = ScalarOr(keys, "fetch", "provider.fetch", fallback.FetchPath);
        var account = ScalarOr(keys, "account", "provider.account", fallback.AccountPath);
        var fetchMany = fallback.FetchManyPath;
        var fetchManyMin = fallback.FetchManyMin;
        var fetchManyMax = fallback.FetchManyMax;
        if (keys.TryGetValue("fetch_many", out var manyNode))
        {
            if (manyNode is YamlScalar manyScalar)
            {
                fetchMany = manyScalar.Value;
            }
            else if (AsMapping(manyNode, "provider.fetch_many", "a path or { path: /fetch-many, min: 2, max: 20 }") is { } manyMap)
            {
                var many = Keys(manyMap, "provider.fetch_many", FetchManyKeys);
                fetchMany = ScalarOr(many, "path", "provider.fetch_many.path", fetchMany);
                fetchManyMin = IntOr(many, "min", "provider.fetch_many.min", fetchManyMin);
                fetchManyMax = IntOr(many, "max", "provider.fetch_many.max", fetchManyMax);
            }
        }

        foreach (var (key, value) in new[] { ("fetch", fetch), ("fetch_many", fetchMany), ("account", account) })
        {
            if (!value.StartsWith("/", StringComparison.Ordinal) && keys.TryGetValue(key, out var pathNode))
            {
                Report("MJ0009", pathNode, value, "provider." + key, "a path must start with '/'");
            }
        }

        var statuses = new List<StatusModel>();
        if (keys.TryGetValue("status", out var statusNode) && AsMapping(statusNode, "provider.status", "a mapping (status: { finished: [finished] })") is { } statusMap)
        {
            foreach (var pair in Keys(statusMap, "provider.status", StatusKeys))
            {
                statuses.Add(new StatusModel(pair.Key, StringList(pair.Value, "provider.status." + pair.Key).ToEquatableArray()));
            }
        }

        var common = new List<ParamModel>();
        if (keys.TryGetValue("common_params", out var commonNode) && AsMapping(commonNode, "provider.common_params", "a mapping of parameter names to parameters") is { } commonMap)
        {
            foreach (var pair in Keys(commonMap, "provider.common_params", null))
            {
                if (ParseParam(pair.Key, pair.Value, "provider.common_params", "Common") is { } param)
                {
                    common.Add(param);
                }
            }
        }

        var upload = keys.TryGetValue("upload", out var uploadNode) ? ParseUpload(uploadNode) : null;
        return new ProviderModel(name, baseUrl, header, scheme, fetch, fetchMany, fetchManyMin, fetchManyMax, account, statuses.ToEquatableArray(), common.ToEquatableArray(), upload);
    }

    /// <summary>
    /// provider.upload: { path: /upload, field: image, result: imageURL } — optional; absent means the
    /// provider takes no uploads. field and result default to image and imageURL; path is required.
    /// </summary>
    private UploadModel? ParseUpload(YamlNode node)
    {
        const string Example = "a mapping (upload: { path: /upload, field: image, result: imageURL })";
        if (AsMapping(node, "provider.upload", Example) is not { } map)
        {
            return null;
        }

        var keys = Keys(map, "provider.upload", UploadKeys);
        if (!keys.TryGetValue("path", out var pathNode))
        {
            Report("MJ0007", map, "provider.upload", "path", "/upload");
            return null;
        }

        var path = ScalarOr(keys, "path", "provider.upload.path", string.Empty);
        var field = ScalarOr(keys, "field", "provider.upload.field", "image");
        var result = ScalarOr(keys, "result", "provider.upload.result", "imageURL");
        var ok = true;
        if (!path.StartsWith("/", StringComparison.Ordinal))
        {
            Report("MJ0009", pathNode, path, "provider.upload.path", "a path must start with '/'");
            ok = false;
        }

        foreach (var (key, value) in new[] { ("field", field), ("result", result) })
        {
            if (value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || c == '"'))
            {
                Report("MJ0009", keys.TryGetValue(key, out var n) ? n : node, value, "provider.upload." + key, "it must be a non-empty name without spaces or quotes, such as " + (key == "field" ? "image" : "imageURL"));
                ok = false;
            }
        }

        return ok ? new UploadModel(path, field, result) : null;
    }

    // ---- stages and results ----------------------------------------------------------------

    private List<StageModel> ParseStages(YamlNode node)
    {
        var list = new List<StageModel>();
        var map = AsMapping(node, "stages", "a mapping (stages: { grid: { images: 4, summary: … } })");
        if (map is null)
        {
            return list;
        }

        foreach (var pair in Keys(map, "stages", null, "stage"))
        {
            var where = "stage '" + pair.Key + "'";
            _positions["stage:" + pair.Key] = PositionOfKey(map, pair.Key);
            var stage = AsMapping(pair.Value, where, "a mapping ({ class: GridTask, images: 4, summary: … })");
            if (stage is null)
            {
                continue;
            }

            var keys = Keys(stage, where, StageKeys);
            var className = ClassName(keys, where, Names.Pascal(pair.Key) + "Task");
            var images = IntOr(keys, "images", where + ".images", 1);
            if (images < 1 || images > 16)
            {
                Report("MJ0009", keys["images"], images.ToString(CultureInfo.InvariantCulture), where + ".images", "a stage carries 1 to 16 images (use 'results:' for tasks without images)");
            }

            list.Add(new StageModel(pair.Key, className, images, Summary(keys, stage, where)));
        }

        return list;
    }

    private List<ResultModel> ParseResults(YamlNode node)
    {
        var list = new List<ResultModel>();
        var map = AsMapping(node, "results", "a mapping (results: { seed: { fields: { seed: { type: string } } } })");
        if (map is null)
        {
            return list;
        }

        foreach (var pair in Keys(map, "results", null, "result"))
        {
            var where = "result '" + pair.Key + "'";
            _positions["result:" + pair.Key] = PositionOfKey(map, pair.Key);
            var result = AsMapping(pair.Value, where, "a mapping ({ class: SeedResult, summary: …, fields: { … } })");
            if (result is null)
            {
                continue;
            }

            var keys = Keys(result, where, ResultKeys);
            var className = ClassName(keys, where, Names.Pascal(pair.Key) + "Result");
            var fields = new List<FieldModel>();
            if (!keys.TryGetValue("fields", out var fieldsNode))
            {
                Report("MJ0007", result, Capital(where), "fields", "{ seed: { type: string, wire: seed } }");
            }
            else if (AsMapping(fieldsNode, where + ".fields", "a mapping of field names to { type, wire, summary }") is { } fieldsMap)
            {
                foreach (var field in Keys(fieldsMap, where + ".fields", null, "field"))
                {
                    var fieldWhere = where + " field '" + field.Key + "'";
                    if (AsMapping(field.Value, fieldWhere, "a mapping ({ type: string, wire: seed })") is not { } fieldMap)
                    {
                        continue;
                    }

                    var fieldKeys = Keys(fieldMap, fieldWhere, FieldKeys);
                    var type = ScalarOr(fieldKeys, "type", fieldWhere + ".type", "string");
                    FieldKind kind;
                    if (type == "string")
                    {
                        kind = FieldKind.String;
                    }
                    else if (type == "string-list")
                    {
                        kind = FieldKind.StringList;
                    }
                    else
                    {
                        Report("MJ0006", fieldKeys["type"], field.Key, type, Hint(type, ["string", "string-list"]), "string, string-list");
                        continue;
                    }

                    fields.Add(new FieldModel(field.Key, Names.Pascal(field.Key), kind, ScalarOr(fieldKeys, "wire", fieldWhere + ".wire", field.Key), Summary(fieldKeys, fieldMap, fieldWhere)));
                }
            }

            list.Add(new ResultModel(pair.Key, className, Summary(keys, result, where), fields.ToEquatableArray()));
        }

        return list;
    }

    private void CollectTypes(YamlNode node)
    {
        var map = AsMapping(node, "types", "a mapping (types: { grid-index: { type: int, min: 1, max: 4 } })");
        if (map is null)
        {
            return;
        }

        foreach (var pair in Keys(map, "types", null, "type"))
        {
            var where = "type '" + pair.Key + "'";
            if (AsMapping(pair.Value, where, "a mapping ({ type: int, min: 1, max: 4 })") is not { } typeMap)
            {
                continue;
            }

            var keys = Keys(typeMap, where, TypeKeys);
            if (!keys.TryGetValue("type", out var baseNode))
            {
                Report("MJ0007", typeMap, Capital(where), "type", "string");
                continue;
            }

            if (baseNode is YamlScalar baseScalar && Array.IndexOf(BuiltinTypes, baseScalar.Value) < 0)
            {
                Report("MJ0006", baseNode, pair.Key, baseScalar.Value, Hint(baseScalar.Value, BuiltinTypes), string.Join(", ", BuiltinTypes));
                continue;
            }

            _types[pair.Key] = typeMap;
        }
    }

    // ---- helpers shared by the partial files -----------------------------------------------

    private static string Capital(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text.Substring(1);

    private static string Hint(string name, IEnumerable<string> candidates) =>
        Names.Closest(name, candidates) is { } closest ? " (did you mean '" + closest + "'?)" : string.Empty;

    private string ClassName(Dictionary<string, YamlNode> keys, string where, string fallback)
    {
        var className = ScalarOr(keys, "class", where + ".class", fallback);
        if (!Names.IsIdentifier(className))
        {
            Report("MJ0009", keys["class"], className, where + ".class", "it must be a C# identifier such as GridTask");
            return fallback;
        }

        return className;
    }

    private string Summary(Dictionary<string, YamlNode> keys, YamlNode owner, string where)
    {
        if (!keys.ContainsKey("summary"))
        {
            Report("MJ0007", owner, Capital(where), "summary", "One sentence that tells a person and an agent what this is");
            return string.Empty;
        }

        return ScalarOr(keys, "summary", where + ".summary", string.Empty).Trim();
    }

    private static YamlPosition PositionOfKey(YamlMapping map, string key)
    {
        foreach (var entry in map.Entries)
        {
            if (entry.Key.Value == key)
            {
                return entry.Key.Start;
            }
        }

        return map.Start;
    }
}
