using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using MjMcp.Generators.Model;

namespace MjMcp.Generators.Parsing;

/// <summary>Per-value credits: <c>credits: { by: type, values: { 2x: 1, 4x: 2 } }</c>, checked against the operation's forms.</summary>
internal sealed partial class SpecParser
{
    private static readonly string[] CreditsKeys = ["by", "values"];

    /// <summary>
    /// The credits of an operation whose cost depends on one enum parameter. Every form must take that parameter (so every
    /// call has a price), it must be required or have a default, and every one of its values needs a cost — no more, no less.
    /// Null when the mapping is unusable (the problem has been reported).
    /// </summary>
    private CreditsByModel? ParseCreditsBy(string operation, YamlMapping map, List<FormModel> forms)
    {
        var where = "operation '" + operation + "'.credits";
        var keys = Keys(map, where, CreditsKeys);
        if (!keys.TryGetValue("by", out var byNode))
        {
            Report("MJ0007", map, "The credits of operation '" + operation + "'", "by", "type");
            return null;
        }

        if (!keys.TryGetValue("values", out var valuesNode))
        {
            Report("MJ0007", map, "The credits of operation '" + operation + "'", "values", "{ 2x: 1, 4x: 2 }");
            return null;
        }

        var by = ScalarOr(keys, "by", where + ".by", string.Empty);
        var enumParams = forms.SelectMany(f => f.Params).Where(p => p.Kind == ParamKind.Enum).Select(p => p.Name).Distinct().ToList();
        var allParams = forms.SelectMany(f => f.Params).Select(p => p.Name).Distinct().ToList();
        if (!allParams.Contains(by))
        {
            Report("MJ0012", byNode, operation, "'" + by + "' is not a parameter of it" + Hint(by, allParams),
                enumParams.Count > 0 ? "Name one of its enum parameters: " + string.Join(", ", enumParams) : "Give it an enum parameter first, or write a plain number (credits: 4)");
            return null;
        }

        var declared = new List<ParamModel>();
        foreach (var form in forms)
        {
            var param = form.Params.FirstOrDefault(p => p.Name == by);
            var formName = form.Name.Length == 0 ? "it" : "its form '" + form.Name + "'";
            if (param is null)
            {
                Report("MJ0012", byNode, operation, formName + " has no parameter '" + by + "', so a call of that form has no price", "Add '" + by + "' to every form, or write a plain number (credits: 4)");
                return null;
            }

            if (param.Kind != ParamKind.Enum)
            {
                Report("MJ0012", byNode, operation, "parameter '" + by + "' is not an enum, so its values cannot be listed",
                    enumParams.Count > 0 ? "Name one of its enum parameters: " + string.Join(", ", enumParams) : "Make it 'type: enum' with values, or write a plain number (credits: 4)");
                return null;
            }

            if (!param.Required && param.Default is null)
            {
                Report("MJ0012", byNode, operation, "parameter '" + by + "' of " + formName + " is optional and has no default, so a call without it has no price", "Make it 'required: true' or give it a 'default:'");
                return null;
            }

            declared.Add(param);
        }

        var known = declared.SelectMany(p => p.Values.Select(v => v.Wire)).Distinct().ToList();
        if (AsMapping(valuesNode, where + ".values", "a mapping of each value of '" + by + "' to its credits ({ " + string.Join(", ", known.Select(v => v + ": 1")) + " })") is not { } valuesMap)
        {
            return null;
        }

        var values = new List<CreditValueModel>();
        foreach (var pair in Keys(valuesMap, where + ".values", null))
        {
            var keyNode = valuesMap.Entries.First(e => e.Key.Value == pair.Key).Key;
            if (!known.Contains(pair.Key))
            {
                Report("MJ0012", keyNode, operation, "'" + pair.Key + "' is not a value of parameter '" + by + "'" + Hint(pair.Key, known),
                    "Use its values (" + string.Join(", ", known) + "), or add '" + pair.Key + "' to the parameter's values");
                continue;
            }

            var cost = IntOr(new Dictionary<string, YamlNode>(StringComparer.Ordinal) { [pair.Key] = pair.Value }, pair.Key, where + ".values." + pair.Key, -1);
            if (cost < 0)
            {
                if (pair.Value is YamlScalar { Value: var text } && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                {
                    Report("MJ0009", pair.Value, text, where + ".values." + pair.Key, "credits are zero or more");
                }

                continue;
            }

            values.Add(new CreditValueModel(pair.Key, cost));
        }

        var missing = known.Where(v => !values.Any(c => c.Value == v) && !valuesMap.Entries.Any(e => e.Key.Value == v)).ToList();
        if (missing.Count > 0)
        {
            Report("MJ0012", valuesMap, operation, "no credits for " + (missing.Count == 1 ? "value" : "values") + " " + string.Join(", ", missing.Select(v => "'" + v + "'")) + " of parameter '" + by + "'",
                "Add " + string.Join(", ", missing.Select(v => "'" + v + ": <credits>'")) + " under credits.values");
            return null;
        }

        return values.Count == known.Count ? new CreditsByModel(by, declared[0].Wire, values.ToEquatableArray()) : null;
    }
}
