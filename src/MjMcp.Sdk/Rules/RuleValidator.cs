using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MjMcp.Rules;

/// <summary>
/// Checks a request against the stage-rule table before anything is sent: parameters (presence,
/// type, range, allowed values, URL and image rules) and the parent (stage, making operation, state).
/// Used by the typed client and by the MCP server alike, so both refuse the same things.
/// </summary>
public static class RuleValidator
{
    /// <summary>Checks the wire body (a JSON object with wire names) of one form.</summary>
    public static List<ValidationProblem> ValidateParams(FormRule form, IReadOnlyList<ParamRule> commonParams, JsonElement body)
    {
        ArgumentNullException.ThrowIfNull(form);
        ArgumentNullException.ThrowIfNull(commonParams);
        var problems = new List<ValidationProblem>();
        if (body.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new ValidationProblem("body", "The request body must be a JSON object."));
            return problems;
        }

        foreach (var param in form.Params.Concat(commonParams))
        {
            if (!body.TryGetProperty(param.Wire, out var value) || value.ValueKind == JsonValueKind.Null)
            {
                if (param.Required)
                {
                    problems.Add(new ValidationProblem(param.Wire, $"'{param.Wire}' is required: {param.Summary}", Allowed(param)));
                }

                continue;
            }

            if (Check(param, value) is { } problem)
            {
                problems.Add(problem);
            }
        }

        return problems;
    }

    /// <summary>
    /// Checks a parent task against a form: its stage, the operation that made it and its state.
    /// <paramref name="parentStage"/> null means the stage is unknown (not an image task).
    /// </summary>
    public static ValidationProblem? ValidateParent(OperationRule operation, FormRule form, string parentTaskId, string? parentStage, string? parentOperation, TaskState parentState)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(form);
        var parent = form.Parent;
        if (parent is null)
        {
            return null;
        }

        if (parentState == TaskState.Failed)
        {
            return new ValidationProblem(parent.Field, $"Task {parentTaskId} failed, so {operation.ToolName} cannot use it. Start again from a finished task.");
        }

        if (parentState != TaskState.Finished)
        {
            return new ValidationProblem(parent.Field, $"Task {parentTaskId} is not finished yet (it is {parentState.ToString().ToLowerInvariant()}). Wait for it to finish, then call {operation.ToolName} again.");
        }

        if (parentStage is null || !parent.Stages.Contains(parentStage, StringComparer.Ordinal))
        {
            var what = parentStage is null ? "not an image task" : Wording.A(parentStage);
            return new ValidationProblem(parent.Field, $"Task {parentTaskId} is {what}; {operation.ToolName} needs {Wording.A(parent.Stages)} task.");
        }

        if (parent.Operations.Count > 0 && parentOperation is not null && !parent.Operations.Contains(parentOperation, StringComparer.Ordinal))
        {
            return new ValidationProblem(parent.Field, $"Task {parentTaskId} was made by {parentOperation}; {operation.ToolName} needs {Wording.A(parent.Stages)} made by {string.Join(" or ", parent.Operations)}.");
        }

        return null;
    }

    /// <summary>The allowed values of a parameter, when there is a short list.</summary>
    public static IReadOnlyList<string>? Allowed(ParamRule param)
    {
        ArgumentNullException.ThrowIfNull(param);
        if (param.Kind == ParamKind.Enum)
        {
            return param.Values;
        }

        if (param.Kind == ParamKind.Int && param.Min is { } min && param.Max is { } max && max - min <= 20)
        {
            return Enumerable.Range((int)min, (int)(max - min) + 1).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();
        }

        return null;
    }

    private static ValidationProblem? Check(ParamRule param, JsonElement value)
    {
        var wire = param.Wire;
        switch (param.Kind)
        {
            case ParamKind.Enum:
                {
                    var text = value.ValueKind == JsonValueKind.String ? value.GetString() : value.ValueKind == JsonValueKind.Number ? value.GetRawText() : null;
                    return text is not null && param.Values.Contains(text, StringComparer.Ordinal)
                        ? null
                        : new ValidationProblem(wire, $"'{wire}' must be one of {string.Join(", ", param.Values)}; got {Show(value)}.", param.Values);
                }

            case ParamKind.Int:
            case ParamKind.Number:
                {
                    double number;
                    if (value.ValueKind == JsonValueKind.Number)
                    {
                        number = value.GetDouble();
                    }
                    else if (value.ValueKind != JsonValueKind.String || !double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out number))
                    {
                        return new ValidationProblem(wire, $"'{wire}' must be a number{Range(param)}; got {Show(value)}.", Allowed(param));
                    }

                    if (param.Kind == ParamKind.Int && Math.Abs(number - Math.Round(number)) > 0)
                    {
                        return new ValidationProblem(wire, $"'{wire}' must be a whole number{Range(param)}; got {Show(value)}.", Allowed(param));
                    }

                    if ((param.Min is { } min && number < min) || (param.Max is { } max && number > max))
                    {
                        var oneBased = param.Kind == ParamKind.Int && param.Min == 1 && number == 0 ? " Indexes are 1-based: 1 is the first image." : string.Empty;
                        return new ValidationProblem(wire, $"'{wire}' {number.ToString(CultureInfo.InvariantCulture)} is out of range{Range(param)}.{oneBased}", Allowed(param));
                    }

                    return null;
                }

            case ParamKind.Bool:
                return value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : new ValidationProblem(wire, $"'{wire}' must be true or false.");

            case ParamKind.Url:
                return value.ValueKind == JsonValueKind.String ? CheckUrl(wire, value.GetString()!) : new ValidationProblem(wire, $"'{wire}' must be an http(s) URL string.");

            case ParamKind.UrlList:
                {
                    if (value.ValueKind != JsonValueKind.Array)
                    {
                        return new ValidationProblem(wire, $"'{wire}' must be a list of http(s) URLs.");
                    }

                    var count = value.GetArrayLength();
                    if ((param.MinItems is { } minItems && count < minItems) || (param.MaxItems is { } maxItems && count > maxItems))
                    {
                        return new ValidationProblem(wire, $"'{wire}' has {count} URLs; give {param.MinItems ?? 0} to {param.MaxItems?.ToString(CultureInfo.InvariantCulture) ?? "any number of"} URLs.");
                    }

                    foreach (var item in value.EnumerateArray())
                    {
                        var problem = item.ValueKind == JsonValueKind.String ? CheckUrl(wire, item.GetString()!) : new ValidationProblem(wire, $"Every item of '{wire}' must be a URL string.");
                        if (problem is not null)
                        {
                            return problem;
                        }
                    }

                    return null;
                }

            case ParamKind.ImageData:
                return value.ValueKind == JsonValueKind.String ? CheckImageData(param, value.GetString()!) : new ValidationProblem(wire, $"'{wire}' must be a base64 PNG or a data: URL string.");

            default:
                {
                    if (value.ValueKind != JsonValueKind.String)
                    {
                        return new ValidationProblem(wire, $"'{wire}' must be a string.");
                    }

                    var text = value.GetString()!;
                    if (param.MinLength is { } minLength && text.Trim().Length < minLength)
                    {
                        return new ValidationProblem(wire, minLength == 1 ? $"'{wire}' must not be empty." : $"'{wire}' must have at least {minLength} characters.");
                    }

                    if (param.MaxLength is { } maxLength && text.Length > maxLength)
                    {
                        return new ValidationProblem(wire, $"'{wire}' has {text.Length} characters; the limit is {maxLength}. Shorten it (the shorten tool can help with prompts).");
                    }

                    if (param.Pattern is { } pattern && !Regex.IsMatch(text, pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)))
                    {
                        return new ValidationProblem(wire, $"'{wire}' {Show(value)} has the wrong format: {param.Summary}");
                    }

                    return null;
                }
        }
    }

    private static ValidationProblem? CheckUrl(string wire, string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            return new ValidationProblem(wire, $"'{wire}' must be an absolute http:// or https:// URL; got '{Truncate(text)}'.");
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            return new ValidationProblem(wire, $"'{wire}' must not carry credentials (user:password@); use a URL that needs none.");
        }

        return null;
    }

    private static ValidationProblem? CheckImageData(ParamRule param, string text)
    {
        if (param.MaxLength is { } maxLength && text.Length > maxLength)
        {
            return new ValidationProblem(param.Wire, $"'{param.Wire}' is {text.Length} characters; the limit is {maxLength}. Send a smaller PNG.");
        }

        var data = text;
        if (data.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = data.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0 || !data[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                return new ValidationProblem(param.Wire, $"'{param.Wire}' must be a base64 data URL such as data:image/png;base64,iVBOR….");
            }

            data = data[(comma + 1)..];
        }

        var buffer = new byte[(data.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(data.Trim(), buffer, out var written) || written < 8)
        {
            return new ValidationProblem(param.Wire, $"'{param.Wire}' is not valid base64 image data. Send a PNG as base64 or a data: URL.");
        }

        ReadOnlySpan<byte> png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
        return buffer.AsSpan(0, 8).SequenceEqual(png)
            ? null
            : new ValidationProblem(param.Wire, $"'{param.Wire}' is not a PNG image. Send the mask as a PNG (white marks the region).");
    }

    private static string Range(ParamRule param) =>
        param.Min is { } min && param.Max is { } max
            ? $" from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}"
            : string.Empty;

    private static string Show(JsonElement value) => value.ValueKind == JsonValueKind.String ? $"'{Truncate(value.GetString()!)}'" : Truncate(value.GetRawText());

    private static string Truncate(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
