using System.Globalization;
using System.Text.Json;

namespace MjMcp;

/// <summary>
/// A /fetch reply, read tolerantly: the provider sends percentage and seed as strings or numbers,
/// and fields vary by task type. Parsed by hand from a <see cref="JsonElement"/> (no reflection).
/// </summary>
public sealed class FetchResponse
{
    private readonly JsonElement _root;

    private FetchResponse(JsonElement root)
    {
        _root = root;
        TaskId = GetString("task_id") ?? GetString("taskId") ?? string.Empty;
        TaskType = GetString("task_type") ?? string.Empty;
        Status = GetString("status");
        Percentage = ParsePercentage(GetString("percentage"));
        OriginalImageUrl = GetString("original_image_url");
        ImageUrl = GetString("image_url");
        ImageUrls = GetStringList("image_urls");
        Error = GetString("error");
        Message = GetString("message");
    }

    /// <summary>The task id.</summary>
    public string TaskId { get; }

    /// <summary>The provider's task_type.</summary>
    public string TaskType { get; }

    /// <summary>The provider's status string (pending, processing, finished, failed, …).</summary>
    public string? Status { get; }

    /// <summary>0-100 when the provider says; null otherwise.</summary>
    public int? Percentage { get; }

    /// <summary>The combined grid image.</summary>
    public string? OriginalImageUrl { get; }

    /// <summary>The single image of an upscale or faceswap.</summary>
    public string? ImageUrl { get; }

    /// <summary>The grid's four images.</summary>
    public IReadOnlyList<string>? ImageUrls { get; }

    /// <summary>Why a task failed.</summary>
    public string? Error { get; }

    /// <summary>The provider's message.</summary>
    public string? Message { get; }

    /// <summary>The raw JSON of the reply.</summary>
    public JsonElement Raw => _root;

    /// <summary>Parses a /fetch reply; throws <see cref="MjProtocolException"/> when it is not a JSON object.</summary>
    public static FetchResponse Parse(JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            throw new MjProtocolException("The provider's /fetch reply is not a JSON object.");
        }

        return new FetchResponse(element.Clone());
    }

    /// <summary>Parses a /fetch reply from UTF-8 JSON.</summary>
    public static FetchResponse Parse(ReadOnlySpan<byte> utf8Json)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8Json);
            using var document = JsonDocument.ParseValue(ref reader);
            return Parse(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new MjProtocolException("The provider's /fetch reply is not valid JSON: " + ex.Message, ex);
        }
    }

    /// <summary>A string field (numbers and booleans are returned as their JSON text).</summary>
    public string? GetString(string wire)
    {
        if (!_root.TryGetProperty(wire, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False => value.GetRawText(),
            _ => null,
        };
    }

    /// <summary>A list-of-strings field.</summary>
    public IReadOnlyList<string>? GetStringList(string wire)
    {
        if (!_root.TryGetProperty(wire, out var value) || value.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var list = new List<string>(value.GetArrayLength());
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String && item.GetString() is { } text)
            {
                list.Add(text);
            }
        }

        return list;
    }

    /// <summary>A required string field; throws <see cref="MjProtocolException"/> when missing.</summary>
    public string RequireString(string wire) =>
        GetString(wire) ?? throw new MjProtocolException($"The finished task {TaskId} ({TaskType}) has no '{wire}' in its /fetch reply.");

    /// <summary>A required list field; throws <see cref="MjProtocolException"/> when missing.</summary>
    public IReadOnlyList<string> RequireStringList(string wire) =>
        GetStringList(wire) ?? throw new MjProtocolException($"The finished task {TaskId} ({TaskType}) has no '{wire}' list in its /fetch reply.");

    /// <summary>The image URLs of a finished image task: <paramref name="count"/> of them.</summary>
    public IReadOnlyList<string> RequireImageUrls(int count)
    {
        if (count > 1)
        {
            if (ImageUrls is { } urls && urls.Count >= count)
            {
                return urls.Take(count).ToArray();
            }

            throw new MjProtocolException($"The finished task {TaskId} ({TaskType}) should carry {count} image_urls but has {ImageUrls?.Count ?? 0}.");
        }

        var single = ImageUrl ?? (ImageUrls is { Count: > 0 } list ? list[0] : null) ?? OriginalImageUrl;
        return single is null
            ? throw new MjProtocolException($"The finished task {TaskId} ({TaskType}) has no image_url in its /fetch reply.")
            : [single];
    }

    private static int? ParsePercentage(string? text) =>
        text is not null && double.TryParse(text.TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? (int)Math.Clamp(Math.Round(value), 0, 100)
            : null;
}
