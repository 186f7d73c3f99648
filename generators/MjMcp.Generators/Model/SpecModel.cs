namespace MjMcp.Generators.Model;

// The equatable model of a spec: strings, numbers, enums and equatable arrays only.
// No symbols, syntax nodes or Compilation ever reach it (a test walks it to prove so).

/// <summary>The whole spec after validation.</summary>
internal sealed record SpecModel(
    string SourcePath,
    ProviderModel Provider,
    EquatableArray<StageModel> Stages,
    EquatableArray<ResultModel> Results,
    EquatableArray<OperationModel> Operations);

/// <summary>Provider-wide wire facts.</summary>
internal sealed record ProviderModel(
    string Name,
    string BaseUrl,
    string AuthHeader,
    string AuthScheme,
    string FetchPath,
    string FetchManyPath,
    int FetchManyMin,
    int FetchManyMax,
    string AccountPath,
    EquatableArray<StatusModel> Statuses,
    EquatableArray<ParamModel> CommonParams,
    UploadModel? Upload);

/// <summary>The provider's image upload: a multipart/form-data POST of one file field, answered with a URL.</summary>
internal sealed record UploadModel(string Path, string Field, string ResultField);

/// <summary>One task state (pending, running, …) and the provider strings that mean it.</summary>
internal sealed record StatusModel(string State, EquatableArray<string> Values);

/// <summary>A stage of the workflow whose finished tasks carry images.</summary>
internal sealed record StageModel(string Name, string ClassName, int Images, string Summary);

/// <summary>A finished task that carries data instead of images.</summary>
internal sealed record ResultModel(string Name, string ClassName, string Summary, EquatableArray<FieldModel> Fields);

/// <summary>A field of a result.</summary>
internal sealed record FieldModel(string Name, string PropertyName, FieldKind Kind, string Wire, string Summary);

internal enum FieldKind
{
    String,
    StringList,
}

/// <summary>One endpoint of the provider.</summary>
internal sealed record OperationModel(
    string Name,
    string PascalName,
    string ToolName,
    string Path,
    EquatableArray<string> TaskTypes,
    int Credits,
    string Summary,
    string Produces,
    bool ProducesStage,
    EquatableArray<FormModel> Forms,
    CreditsByModel? CreditsBy = null)
{
    /// <summary>The cost in words: "4 credits", or "1 credit with type 2x, 2 credits with type 4x"; empty when free.</summary>
    public string CreditsText()
    {
        static string Plural(int credits) => credits.ToString(System.Globalization.CultureInfo.InvariantCulture) + (credits == 1 ? " credit" : " credits");
        if (CreditsBy is { } by)
        {
            return string.Join(", ", System.Linq.Enumerable.Select(by.Values, v => Plural(v.Credits) + " with " + by.Param + " " + v.Value));
        }

        return Credits > 0 ? Plural(Credits) : string.Empty;
    }
}

/// <summary>
/// Credits that depend on one enum parameter (credits: { by: type, values: { 2x: 1, 4x: 2 } }): the parameter's spec
/// name and wire name, and the cost of each of its values. <see cref="OperationModel.Credits"/> is then the highest.
/// </summary>
internal sealed record CreditsByModel(string Param, string Wire, EquatableArray<CreditValueModel> Values);

/// <summary>The credits of one value of a <see cref="CreditsByModel"/> parameter.</summary>
internal sealed record CreditValueModel(string Value, int Credits);

/// <summary>One shape of an operation: the parent it accepts and the parameters it takes.</summary>
internal sealed record FormModel(
    string Name,
    string Summary,
    string RequestClass,
    ParentModel? Parent,
    EquatableArray<ParamModel> Params);

/// <summary>The parent an operation form needs.</summary>
internal sealed record ParentModel(EquatableArray<string> Stages, EquatableArray<string> Operations, string Field);

internal enum ParamKind
{
    String,
    Int,
    Number,
    Bool,
    Url,
    UrlList,
    ImageData,
    Enum,
}

/// <summary>A parameter of an operation form (or a provider-wide common parameter).</summary>
internal sealed record ParamModel(
    string Name,
    string PropertyName,
    string ParameterName,
    string Wire,
    ParamKind Kind,
    bool Required,
    bool Secret,
    string Summary,
    string? Default,
    string? EnumClass,
    EquatableArray<EnumValueModel> Values,
    double? Min,
    double? Max,
    int? MinLength,
    int? MaxLength,
    int? MinItems,
    int? MaxItems,
    string? Pattern,
    bool WireAsString);

/// <summary>An allowed value of an enum parameter: its wire text and its C# member name.</summary>
internal sealed record EnumValueModel(string Wire, string Member);
