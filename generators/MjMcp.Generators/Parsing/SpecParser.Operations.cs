using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Parsing;

/// <summary>Operations, their forms, parents and parameters, and the cross-checks between them.</summary>
internal sealed partial class SpecParser
{
    private List<OperationModel> ParseOperations(YamlNode node, List<StageModel> stages, List<ResultModel> results)
    {
        var list = new List<OperationModel>();
        var map = AsMapping(node, "operations", "a mapping (operations: { imagine: { path: /imagine, … } })");
        if (map is null)
        {
            return list;
        }

        var entries = Keys(map, "operations", null, "operation");
        var operationNames = entries.Keys.ToList();
        var stageNames = stages.Select(s => s.Name).ToList();
        var producibles = stageNames.Concat(results.Select(r => r.Name)).ToList();
        foreach (var pair in entries)
        {
            _positions["operation:" + pair.Key] = PositionOfKey(map, pair.Key);
            if (ParseOperation(pair.Key, pair.Value, stageNames, producibles, operationNames) is { } operation)
            {
                list.Add(operation);
            }
        }

        return list;
    }

    private OperationModel? ParseOperation(string name, YamlNode node, List<string> stages, List<string> producibles, List<string> operations)
    {
        var where = "operation '" + name + "'";
        var map = AsMapping(node, where, "a mapping ({ path: /" + name + ", summary: …, produces: grid })");
        if (map is null)
        {
            return null;
        }

        var keys = Keys(map, where, OperationKeys);
        if (!keys.ContainsKey("path"))
        {
            Report("MJ0007", map, Capital(where), "path", "/" + name);
        }

        var path = ScalarOr(keys, "path", where + ".path", "/" + name);
        if (keys.TryGetValue("path", out var pathNode) && (!path.StartsWith("/", StringComparison.Ordinal) || path.Contains(" ")))
        {
            Report("MJ0009", pathNode, path, where + ".path", "a path starts with '/' and has no spaces, for example /" + name);
        }

        var summary = Summary(keys, map, where);
        var pascal = Names.Pascal(name);
        var taskTypes = keys.TryGetValue("task_type", out var taskTypeNode) ? StringList(taskTypeNode, where + ".task_type") : [name];
        var credits = keys.TryGetValue("credits", out var creditsNode) && creditsNode is YamlMapping ? 0 : IntOr(keys, "credits", where + ".credits", 0);

        string produces = string.Empty;
        if (!keys.TryGetValue("produces", out var producesNode))
        {
            Report("MJ0007", map, Capital(where), "produces", stages.FirstOrDefault() ?? "grid");
        }
        else
        {
            produces = ScalarOr(keys, "produces", where + ".produces", string.Empty);
            if (!producibles.Contains(produces))
            {
                Report("MJ0003", producesNode, produces, Hint(produces, producibles), string.Join(", ", producibles));
            }
        }

        var forms = new List<FormModel>();
        if (keys.TryGetValue("forms", out var formsNode))
        {
            if (keys.ContainsKey("params") || keys.ContainsKey("parent"))
            {
                Report("MJ0009", formsNode, "forms", where, "an operation has either 'forms' or its own 'parent'/'params', not both; move them into each form");
            }

            if (formsNode is not YamlSequence sequence)
            {
                Report("MJ0008", formsNode, where + ".forms", "a list", Describe(formsNode), "- { name: grid, parent: grid, params: { … } }");
            }
            else
            {
                var formNames = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
                var formNodes = new List<YamlNode>();
                for (var i = 0; i < sequence.Items.Count; i++)
                {
                    var formWhere = where + " form " + (i + 1).ToString(CultureInfo.InvariantCulture);
                    if (AsMapping(sequence.Items[i], formWhere, "a mapping ({ name: grid, parent: grid, params: { … } })") is not { } formMap)
                    {
                        continue;
                    }

                    var formKeys = Keys(formMap, formWhere, FormKeys);
                    var formName = ScalarOr(formKeys, "name", formWhere + ".name", "form" + (i + 1).ToString(CultureInfo.InvariantCulture));
                    var formNameNode = formKeys.TryGetValue("name", out var n) ? n : formMap;
                    if (!Names.IsSpecName(formName))
                    {
                        Report("MJ0009", formNameNode, formName, formWhere + ".name", "use a lower-case name such as grid");
                    }
                    else if (formNames.TryGetValue(formName, out var firstForm))
                    {
                        Report("MJ0004", formNameNode, "form", formName, LineNumber(firstForm));
                    }
                    else
                    {
                        formNames[formName] = formNameNode;
                    }

                    var formSummary = formKeys.ContainsKey("summary") ? ScalarOr(formKeys, "summary", formWhere + ".summary", summary) : summary;
                    var parent = formKeys.TryGetValue("parent", out var parentNode) ? ParseParent(parentNode, formWhere, stages, operations) : null;
                    var parameters = formKeys.TryGetValue("params", out var paramsNode) ? ParseParams(paramsNode, formWhere, pascal) : [];
                    forms.Add(new FormModel(formName, formSummary, pascal + Names.Pascal(formName) + "Request", parent, parameters.ToEquatableArray()));
                    formNodes.Add(formMap);
                }

                if (sequence.Items.Count == 0)
                {
                    Report("MJ0009", formsNode, "[]", where + ".forms", "list at least one form");
                }

                CheckAmbiguousForms(name, forms, formNodes);
            }
        }
        else
        {
            var parent = keys.TryGetValue("parent", out var parentNode) ? ParseParent(parentNode, where, stages, operations) : null;
            var parameters = keys.TryGetValue("params", out var paramsNode) ? ParseParams(paramsNode, where, pascal) : [];
            forms.Add(new FormModel(string.Empty, summary, pascal + "Request", parent, parameters.ToEquatableArray()));
        }

        var creditsBy = creditsNode is YamlMapping creditsMap ? ParseCreditsBy(name, creditsMap, forms) : null;
        if (creditsBy is not null)
        {
            credits = creditsBy.Values.Max(v => v.Credits);
        }

        return new OperationModel(name, pascal, Names.Snake(name), path, taskTypes.ToEquatableArray(), credits, summary, produces, stages.Contains(produces), forms.ToEquatableArray(), creditsBy);
    }

    private ParentModel? ParseParent(YamlNode node, string where, List<string> stages, List<string> operations)
    {
        var parentStages = new List<string>();
        var parentOperations = new List<string>();
        var field = "parent_task_id";
        var stageNodes = new List<YamlNode>();
        if (node is YamlScalar scalar)
        {
            parentStages.Add(scalar.Value);
            stageNodes.Add(scalar);
        }
        else if (AsMapping(node, where + ".parent", "a stage name or { stage: grid, operations: [imagine] }") is { } map)
        {
            var keys = Keys(map, where + ".parent", ParentKeys);
            if (keys.TryGetValue("stage", out var stageNode))
            {
                parentStages.Add(ScalarOr(keys, "stage", where + ".parent.stage", string.Empty));
                stageNodes.Add(stageNode);
            }

            if (keys.TryGetValue("stages", out var stagesNode))
            {
                if (stagesNode is YamlSequence seq)
                {
                    foreach (var item in seq.Items)
                    {
                        if (item is YamlScalar text)
                        {
                            parentStages.Add(text.Value);
                            stageNodes.Add(item);
                        }
                        else
                        {
                            Report("MJ0008", item, where + ".parent.stages item", "a scalar", Describe(item), "[grid, upscaled]");
                        }
                    }
                }
                else
                {
                    parentStages.AddRange(StringList(stagesNode, where + ".parent.stages"));
                    stageNodes.Add(stagesNode);
                }
            }

            if (parentStages.Count == 0)
            {
                Report("MJ0007", map, "The parent of " + where, "stage", stages.FirstOrDefault() ?? "grid");
            }

            if (keys.TryGetValue("operations", out var operationsNode))
            {
                parentOperations = StringList(operationsNode, where + ".parent.operations");
                var itemNodes = operationsNode is YamlSequence operationItems ? operationItems.Items : [operationsNode];
                foreach (var item in itemNodes)
                {
                    // Each name is reported at its own list item (StringList has reported items that are not scalars).
                    if (item is YamlScalar named && (operationsNode is YamlSequence || !named.IsNull) && !operations.Contains(named.Value))
                    {
                        Report("MJ0010", item, named.Value, Hint(named.Value, operations), string.Join(", ", operations));
                    }
                }
            }

            field = ScalarOr(keys, "field", where + ".parent.field", field);
        }
        else
        {
            return null;
        }

        for (var i = 0; i < parentStages.Count; i++)
        {
            if (!stages.Contains(parentStages[i]))
            {
                Report("MJ0003", stageNodes[Math.Min(i, stageNodes.Count - 1)], parentStages[i], " (a parent must be a stage with images)" + Hint(parentStages[i], stages), string.Join(", ", stages));
            }
        }

        return new ParentModel(parentStages.Distinct().ToEquatableArray(), parentOperations.ToEquatableArray(), field);
    }

    private List<ParamModel> ParseParams(YamlNode node, string where, string operationPascal)
    {
        var list = new List<ParamModel>();
        var map = AsMapping(node, where + ".params", "a mapping of parameter names to { type: …, required: … }");
        if (map is null)
        {
            return list;
        }

        foreach (var pair in Keys(map, where + ".params", null, "parameter"))
        {
            if (ParseParam(pair.Key, pair.Value, where, operationPascal) is { } param)
            {
                list.Add(param);
            }
        }

        return list;
    }

    private ParamModel? ParseParam(string name, YamlNode node, string owner, string enumPrefix)
    {
        var where = owner + " parameter '" + name + "'";
        var map = AsMapping(node, where, "a mapping ({ type: string, required: true, summary: … })");
        if (map is null)
        {
            return null;
        }

        var keys = Keys(map, where, ParamKeys);
        if (!keys.TryGetValue("type", out var typeNode))
        {
            Report("MJ0007", map, Capital(where), "type", string.Join(" | ", BuiltinTypes));
            return null;
        }

        var typeName = ScalarOr(keys, "type", where + ".type", "string");
        var merged = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
        string baseType;
        if (_types.TryGetValue(typeName, out var named))
        {
            foreach (var pair in Keys(named, "type '" + typeName + "'", TypeKeys))
            {
                merged[pair.Key] = pair.Value;
            }

            baseType = ScalarOr(merged, "type", "type '" + typeName + "'.type", "string");
        }
        else if (Array.IndexOf(BuiltinTypes, typeName) >= 0)
        {
            baseType = typeName;
        }
        else
        {
            var candidates = BuiltinTypes.Concat(_types.Keys).ToList();
            Report("MJ0006", typeNode, name, typeName, Hint(typeName, candidates), string.Join(", ", BuiltinTypes));
            return null;
        }

        foreach (var pair in keys)
        {
            if (pair.Key != "type")
            {
                merged[pair.Key] = pair.Value;
            }
        }

        var kind = baseType switch
        {
            "int" => ParamKind.Int,
            "number" => ParamKind.Number,
            "bool" => ParamKind.Bool,
            "url" => ParamKind.Url,
            "url-list" => ParamKind.UrlList,
            "image-data" => ParamKind.ImageData,
            "enum" => ParamKind.Enum,
            _ => ParamKind.String,
        };

        var propertyName = ScalarOr(merged, "name", where + ".name", Names.Pascal(name));
        if (!Names.IsIdentifier(propertyName))
        {
            Report("MJ0009", merged["name"], propertyName, where + ".name", "it must be a C# identifier such as AspectRatio");
            propertyName = Names.Pascal(name);
        }

        var values = new List<EnumValueModel>();
        string? enumClass = null;
        if (kind == ParamKind.Enum)
        {
            enumClass = ScalarOr(merged, "enum_name", where + ".enum_name", enumPrefix + Names.Pascal(name));
            if (!Names.IsIdentifier(enumClass))
            {
                Report("MJ0009", merged["enum_name"], enumClass, where + ".enum_name", "it must be a C# identifier such as PanDirection");
                enumClass = enumPrefix + Names.Pascal(name);
            }

            if (!merged.TryGetValue("values", out var valuesNode))
            {
                Report("MJ0007", map, Capital(where), "values", "[up, down, left, right]");
            }
            else
            {
                values = EnumValues(valuesNode, where + ".values");
            }
        }
        else if (merged.TryGetValue("values", out var stray))
        {
            Report("MJ0009", stray, "values", where, "only 'type: enum' parameters take values");
        }

        var min = NumberOrNull(merged, "min", where + ".min");
        var max = NumberOrNull(merged, "max", where + ".max");
        if (min is not null && max is not null && min > max)
        {
            Report("MJ0009", merged["max"], max.Value.ToString(CultureInfo.InvariantCulture), where + ".max", "max is below min " + min.Value.ToString(CultureInfo.InvariantCulture));
        }

        var minLength = IntOrNull(merged, "min_length", where + ".min_length");
        var maxLength = IntOrNull(merged, "max_length", where + ".max_length");
        var minItems = IntOrNull(merged, "min_items", where + ".min_items");
        var maxItems = IntOrNull(merged, "max_items", where + ".max_items");
        if (minItems is not null && maxItems is not null && minItems > maxItems)
        {
            Report("MJ0009", merged["max_items"], maxItems.Value.ToString(CultureInfo.InvariantCulture), where + ".max_items", "max_items is below min_items");
        }

        string? pattern = null;
        if (merged.ContainsKey("pattern"))
        {
            pattern = ScalarOr(merged, "pattern", where + ".pattern", string.Empty);
            try
            {
                _ = new System.Text.RegularExpressions.Regex(pattern, System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException ex)
            {
                Report("MJ0009", merged["pattern"], pattern, where + ".pattern", "not a valid regular expression (" + ex.Message + ")");
                pattern = null;
            }
        }

        var wireType = ScalarOr(merged, "wire_type", where + ".wire_type", string.Empty);
        if (wireType.Length > 0 && wireType != "string")
        {
            Report("MJ0009", merged["wire_type"], wireType, where + ".wire_type", "the only wire_type is string (send a number as a JSON string)");
        }

        var defaultValue = merged.ContainsKey("default") ? ScalarOr(merged, "default", where + ".default", string.Empty) : null;
        if (defaultValue is not null && kind == ParamKind.Enum && values.Count > 0 && !values.Any(v => v.Wire == defaultValue))
        {
            Report("MJ0009", merged["default"], defaultValue, where + ".default", "it is not one of the values " + string.Join(", ", values.Select(v => v.Wire)));
        }

        return new ParamModel(
            name,
            propertyName,
            Names.Camel(propertyName),
            ScalarOr(merged, "wire", where + ".wire", name),
            kind,
            BoolOr(merged, "required", where + ".required", false),
            BoolOr(merged, "secret", where + ".secret", false),
            merged.ContainsKey("summary") ? ScalarOr(merged, "summary", where + ".summary", string.Empty).Trim() : string.Empty,
            defaultValue,
            enumClass,
            values.ToEquatableArray(),
            min,
            max,
            minLength,
            maxLength,
            minItems,
            maxItems,
            pattern,
            wireType == "string");
    }

    private List<EnumValueModel> EnumValues(YamlNode node, string where)
    {
        var values = new List<EnumValueModel>();
        if (node is YamlMapping map)
        {
            foreach (var pair in Keys(map, where, null))
            {
                var member = pair.Value is YamlScalar scalar ? scalar.Value : string.Empty;
                if (!Names.IsIdentifier(member))
                {
                    Report("MJ0009", pair.Value, member, where + "." + pair.Key, "the C# member name must be an identifier such as Double");
                    continue;
                }

                values.Add(new EnumValueModel(pair.Key, member));
            }
        }
        else
        {
            foreach (var value in StringList(node, where))
            {
                values.Add(new EnumValueModel(value, Names.Pascal(value)));
            }
        }

        if (values.Count == 0)
        {
            Report("MJ0009", node, "[]", where, "list at least one value");
        }

        foreach (var group in values.GroupBy(v => v.Member, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            Report("MJ0011", node, group.First().Wire, group.Key, "value '" + group.Skip(1).First().Wire + "'");
        }

        return values;
    }

    /// <summary>Two forms that accept the same parent stage must differ in a required parameter's values.</summary>
    private void CheckAmbiguousForms(string operation, List<FormModel> forms, List<YamlNode> nodes)
    {
        for (var i = 0; i < forms.Count; i++)
        {
            for (var j = i + 1; j < forms.Count; j++)
            {
                var a = forms[i];
                var b = forms[j];
                var aStages = a.Parent?.Stages.ToList() ?? ["(none)"];
                var bStages = b.Parent?.Stages.ToList() ?? ["(none)"];
                var shared = aStages.Intersect(bStages, StringComparer.Ordinal).FirstOrDefault();
                if (shared is null)
                {
                    continue;
                }

                var distinguishing = a.Params.Where(p => p.Required).FirstOrDefault(p =>
                    b.Params.FirstOrDefault(q => q.Required && q.Wire == p.Wire) is { } q &&
                    ValueSet(p) is { } left && ValueSet(q) is { } right && !left.Overlaps(right));
                if (distinguishing is null)
                {
                    var wire = a.Params.FirstOrDefault(p => b.Params.Any(q => q.Wire == p.Wire))?.Wire ?? "parameter";
                    Report("MJ0005", nodes[j], a.Name, b.Name, operation, shared, wire);
                }
            }
        }
    }

    private static HashSet<string>? ValueSet(ParamModel param)
    {
        if (param.Kind == ParamKind.Enum)
        {
            return new HashSet<string>(param.Values.Select(v => v.Wire), StringComparer.Ordinal);
        }

        if (param.Kind == ParamKind.Int && param.Min is { } min && param.Max is { } max && max - min <= 1000)
        {
            var set = new HashSet<string>(StringComparer.Ordinal);
            for (var v = (long)Math.Ceiling(min); v <= (long)Math.Floor(max); v++)
            {
                set.Add(v.ToString(CultureInfo.InvariantCulture));
            }

            return set;
        }

        return null;
    }

    /// <summary>Generated C# names must be unique across stages, results, requests and enums.</summary>
    private void CheckCollisions(List<StageModel> stages, List<ResultModel> results, List<OperationModel> operations)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        bool Claim(string csharpName, string owner, string positionKey)
        {
            var position = _positions.TryGetValue(positionKey, out var p) ? p : default;
            if (seen.TryGetValue(csharpName, out var other) && other != owner)
            {
                Report("MJ0011", position, position, owner, csharpName, other);
                return false;
            }

            seen[csharpName] = owner;
            return true;
        }

        foreach (var stage in stages)
        {
            Claim(stage.ClassName, "stage '" + stage.Name + "'", "stage:" + stage.Name);
        }

        foreach (var result in results)
        {
            Claim(result.ClassName, "result '" + result.Name + "'", "result:" + result.Name);
        }

        foreach (var operation in operations)
        {
            // One report per operation: its other names usually collide for the same reason.
            var owner = "operation '" + operation.Name + "'";
            var key = "operation:" + operation.Name;
            var ok = Claim(operation.PascalName + "Async", owner, key);
            foreach (var form in operation.Forms)
            {
                ok = ok && Claim(form.RequestClass, owner, key);
                foreach (var param in form.Params.Where(p => p.EnumClass is not null))
                {
                    // One enum may be shared by several forms of an operation when its values agree.
                    ok = ok && Claim(param.EnumClass!, "enum of '" + operation.Name + "." + param.Name + "' (" + string.Join("|", param.Values.Select(v => v.Wire)) + ")", key);
                }
            }
        }
    }
}
