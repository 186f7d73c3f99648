using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

/// <summary>The submit endpoints and the provider's own checks (independent of the SDK's).</summary>
internal static class Operations
{
    public static readonly string[] Paths =
        ["/imagine", "/reroll", "/variations", "/upscale-1x", "/upscale-alt", "/upscale-highres", "/inpaint", "/outpaint", "/pan", "/describe", "/blend", "/seed", "/faceswap", "/shorten"];

    public static int Credits(string operation) => operation switch
    {
        "upscale-1x" or "describe" or "shorten" or "seed" => 2,
        _ => 4,
    };

    public static string? StageOf(string operation) => operation switch
    {
        "imagine" or "reroll" or "blend" or "variations" or "pan" or "outpaint" or "inpaint" => "grid",
        "upscale-1x" => "upscaled",
        "upscale-alt" or "upscale-highres" => "hires",
        "faceswap" => "image",
        _ => null,
    };
}

/// <summary>A request the sandbox refuses, with the provider's 400 error text.</summary>
internal sealed class Rejection(string message) : Exception(message);

public sealed partial class SandboxServer
{
    private async Task<(int, byte[])> SubmitAsync(HttpContext context, string path, JsonElement body)
    {
        var operation = path.TrimStart('/');
        SandboxTask task;
        try
        {
            task = await CreateAsync(operation, body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Rejection rejection)
        {
            return (400, Error(rejection.Message));
        }

        return Accept(task, body, Operations.Credits(operation), withoutImages: task.Operation is "seed" or "shorten");
    }

    /// <summary>Stores an accepted task, spends its credits, starts it and its webhooks; the provider's 200 {task_id}.</summary>
    private (int, byte[]) Accept(SandboxTask task, JsonElement body, int credits, bool withoutImages)
    {
        task.WebhookUrl = Text(body, "webhook_url");
        task.WebhookSecret = Text(body, "webhook_secret");
        _store.Save(task);
        Counters.Accepted();
        Interlocked.Add(ref _creditsSpent, credits);
        if (withoutImages || task.Error is not null)
        {
            CompleteWithoutImages(task);
        }
        else
        {
            _queue.Writer.TryWrite(task);
        }

        if (task.WebhookUrl is not null)
        {
            _ = Task.Run(() => DeliverWebhooksAsync(task), CancellationToken.None);
        }

        return (200, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("task_id", task.Id);
            w.WriteEndObject();
        }));
    }

    private async Task<SandboxTask> CreateAsync(string operation, JsonElement body, CancellationToken cancellationToken)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        SandboxTask? parent = null;
        string prompt;
        string taskType = operation;
        List<byte[]>? inputs = null;

        if (Text(body, "webhook_url") is { } hook && !IsLoopback(hook))
        {
            throw new Rejection("webhook_url must be an http(s) URL on this machine (the sandbox only calls loopback).");
        }

        switch (operation)
        {
            case "imagine":
                prompt = RequiredPrompt(body);
                if (Text(body, "aspect_ratio") is { } ratio)
                {
                    var parts = ratio.Split(':');
                    if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var aw) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ah) || aw < 1 || ah < 1 || aw > 100 || ah > 100)
                    {
                        throw new Rejection($"aspect_ratio '{ratio}' is invalid: use width:height such as 16:9.");
                    }

                    parameters["aspect_ratio"] = ratio;
                }

                break;

            case "reroll":
                parent = Parent(body, "parent_task_id", operation, ["grid"]);
                if (parent.Operation is not ("imagine" or "reroll"))
                {
                    throw new Rejection($"parent_task_id '{parent.Id}' is a {parent.TaskType} task; /reroll needs an imagine (or reroll) task.");
                }

                prompt = Text(body, "prompt") ?? parent.Prompt;
                break;

            case "variations":
                {
                    var index = Text(body, "index") ?? throw new Rejection("index is required: 1-4 for a grid parent, strong or subtle for an upscaled parent.");
                    if (index is "strong" or "subtle")
                    {
                        parent = Parent(body, "parent_task_id", operation + " with index " + index, ["upscaled"]);
                        taskType = "variation-" + index;
                    }
                    else
                    {
                        var position = GridIndex(index, "index");
                        parent = Parent(body, "parent_task_id", operation + " with index 1-4", ["grid"]);
                        taskType = "variation-" + position.ToString(CultureInfo.InvariantCulture);
                    }

                    parameters["index"] = index;
                    prompt = Text(body, "prompt") ?? parent.Prompt;
                    break;
                }

            case "upscale-1x":
                {
                    var position = GridIndex(Text(body, "index") ?? throw new Rejection("index is required: 1-4."), "index");
                    parent = Parent(body, "parent_task_id", operation, ["grid"]);
                    parameters["index"] = position.ToString(CultureInfo.InvariantCulture);
                    taskType = "upscale#" + parameters["index"];
                    prompt = parent.Prompt;
                    break;
                }

            case "upscale-alt":
                {
                    var type = OneOf(body, "type", ["subtle", "creative"]);
                    parent = Parent(body, "parent_task_id", operation, ["upscaled"]);
                    parameters["type"] = type;
                    taskType = "upscale-" + type;
                    prompt = parent.Prompt;
                    break;
                }

            case "upscale-highres":
                {
                    var type = OneOf(body, "type", ["2x", "4x"]);
                    parent = Parent(body, "parent_task_id", operation, ["upscaled"]);
                    parameters["type"] = type;
                    taskType = "upscale-highres-" + type;
                    prompt = parent.Prompt;
                    break;
                }

            case "pan":
                {
                    var direction = OneOf(body, "direction", ["up", "down", "left", "right"]);
                    parent = Parent(body, "parent_task_id", operation, ["upscaled"]);
                    parameters["direction"] = direction;
                    taskType = "pan-" + direction;
                    prompt = Text(body, "prompt") ?? parent.Prompt;
                    break;
                }

            case "outpaint":
                {
                    var text = Text(body, "zoom_ratio") ?? throw new Rejection("zoom_ratio is required: 1 (make square) or a number above 1 up to 2.");
                    if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var zoom) || zoom < 1 || zoom > 2)
                    {
                        throw new Rejection($"zoom_ratio '{text}' is out of range: use 1 (make square) or a number above 1 up to 2.");
                    }

                    parent = Parent(body, "parent_task_id", operation, ["upscaled"]);
                    parameters["zoom_ratio"] = zoom.ToString("R", CultureInfo.InvariantCulture);
                    taskType = "outpaint-" + parameters["zoom_ratio"];
                    prompt = Text(body, "prompt") ?? parent.Prompt;
                    break;
                }

            case "inpaint":
                {
                    var mask = Text(body, "mask") ?? throw new Rejection("mask is required: a PNG (base64 or data: URL), white where to redraw.");
                    var bytes = DecodeBase64Image(mask, "mask");
                    parent = Parent(body, "parent_task_id", operation, ["upscaled"]);
                    inputs = [bytes];
                    prompt = Text(body, "prompt") ?? parent.Prompt;
                    break;
                }

            case "describe":
                inputs = [await ReadImageAsync(Text(body, "image_url"), "image_url", cancellationToken).ConfigureAwait(false)];
                prompt = Text(body, "image_url")!;
                break;

            case "faceswap":
                inputs =
                [
                    await ReadImageAsync(Text(body, "target_image_url"), "target_image_url", cancellationToken).ConfigureAwait(false),
                    await ReadImageAsync(Text(body, "swap_image_url"), "swap_image_url", cancellationToken).ConfigureAwait(false),
                ];
                prompt = Text(body, "target_image_url") + " " + Text(body, "swap_image_url");
                break;

            case "blend":
                {
                    if (!body.TryGetProperty("image_urls", out var urls) || urls.ValueKind != JsonValueKind.Array || urls.GetArrayLength() is < 2 or > 5)
                    {
                        throw new Rejection("image_urls must be a list of 2 to 5 image URLs.");
                    }

                    parameters["dimension"] = Text(body, "dimension") is null ? "square" : OneOf(body, "dimension", ["square", "portrait", "landscape"]);
                    inputs = [];
                    foreach (var url in urls.EnumerateArray())
                    {
                        inputs.Add(await ReadImageAsync(url.ValueKind == JsonValueKind.String ? url.GetString() : null, "image_urls", cancellationToken).ConfigureAwait(false));
                    }

                    prompt = string.Join(" ", urls.EnumerateArray().Select(u => u.ToString()));
                    break;
                }

            case "seed":
                parent = Parent(body, "task_id", operation, ["grid", "upscaled", "hires", "image"]);
                prompt = parent.Prompt;
                break;

            case "shorten":
                prompt = RequiredPrompt(body);
                break;

            default:
                throw new Rejection("Unknown endpoint.");
        }

        var seed = (long)(Pictures.Hash(prompt + "|" + operation + "|" + (parent?.Id ?? string.Empty) + "|" + string.Join(",", parameters.Select(p => p.Key + "=" + p.Value)), 0, 0) % 4_294_967_295UL);
        var task = new SandboxTask
        {
            Id = Guid.NewGuid().ToString(),
            Operation = operation,
            TaskType = taskType,
            ParentId = parent?.Id,
            Prompt = prompt,
            Seed = seed,
            Stage = Operations.StageOf(operation),
            CreatedAt = Options.TimeProvider.GetUtcNow(),
            Params = parameters,
            Inputs = inputs,
        };
        if (operation is not ("describe" or "faceswap" or "blend") && Banned(prompt) is { } word)
        {
            task.Error = $"The prompt was blocked by moderation: the word '{word}' is not allowed. Change the prompt and submit again.";
        }

        return task;
    }

    private SandboxTask Parent(JsonElement body, string field, string operation, string[] stages)
    {
        var id = Text(body, field) ?? throw new Rejection($"{field} is required: the task_id of a finished {string.Join(" or ", stages)} task.");
        var parent = FinishedTask(field, id, operation.Split(' ')[0]);
        if (parent.Stage is null || !stages.Contains(parent.Stage))
        {
            var fix = stages.Contains("upscaled") && parent.Stage == "grid" ? ": call /upscale-1x on it first" : string.Empty;
            throw new Rejection($"{field} '{id}' is {(parent.Stage is null ? "not an image task" : "a " + parent.Stage)} (task_type {parent.TaskType}); /{operation} needs {string.Join(" or ", stages.Select(s => (s[0] is 'a' or 'e' or 'i' or 'o' or 'u' ? "an " : "a ") + s))} task{fix}.");
        }

        return parent;
    }

    /// <summary>The task <paramref name="id"/> named in <paramref name="field"/>, which must exist and be finished.</summary>
    private SandboxTask FinishedTask(string field, string id, string operation)
    {
        var task = _store.Get(id) ?? throw new Rejection($"{field} '{id}' was not found.");
        var (status, _) = StatusOf(task);
        if (status == "failed")
        {
            throw new Rejection($"{field} '{id}' failed; /{operation} cannot use it.");
        }

        if (status != "finished")
        {
            throw new Rejection($"{field} '{id}' is not finished yet ({status}): wait for it, then submit again.");
        }

        return task;
    }

    private static int GridIndex(string text, string field)
    {
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var index) || index is < 1 or > 4)
        {
            throw new Rejection(index == 0 && text.Trim() == "0" ? $"{field} 0 is out of range: indexes are 1-based, use 1-4." : $"{field} '{text}' is invalid: use 1-4.");
        }

        return index;
    }

    private static string OneOf(JsonElement body, string field, string[] allowed)
    {
        var value = Text(body, field) ?? throw new Rejection($"{field} is required: one of {string.Join(", ", allowed)}.");
        return allowed.Contains(value) ? value : throw new Rejection($"{field} '{value}' is invalid: use one of {string.Join(", ", allowed)}.");
    }

    private static string RequiredPrompt(JsonElement body)
    {
        var prompt = Text(body, "prompt");
        return string.IsNullOrWhiteSpace(prompt) ? throw new Rejection("prompt is required and must not be empty.") : prompt;
    }

    private string? Banned(string prompt)
    {
        var words = prompt.Split([' ', ',', '.', ';', ':', '!', '?', '-', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        return Options.BannedWords.FirstOrDefault(b => words.Contains(b, StringComparer.OrdinalIgnoreCase));
    }

    private static byte[] DecodeBase64Image(string text, string field)
    {
        var data = text;
        if (data.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = data.IndexOf(',', StringComparison.Ordinal);
            data = comma < 0 ? string.Empty : data[(comma + 1)..];
        }

        try
        {
            var bytes = Convert.FromBase64String(data.Trim());
            _ = PngCodec.ReadSize(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException)
        {
            throw new Rejection($"{field} is not a valid base64 image: send a PNG as base64 or a data: URL.");
        }
    }

    /// <summary>Images this sandbox served are read from storage; other loopback URLs are fetched (10 s, 20 MiB).</summary>
    private async Task<byte[]> ReadImageAsync(string? url, string field, CancellationToken cancellationToken)
    {
        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new Rejection($"{field} must be an http(s) image URL.");
        }

        var segments = uri.AbsolutePath.Trim('/').Split('/');
        if (segments.Length == 3 && segments[0] == "images" && IsLoopback(url) && _store.Get(segments[1]) is { } owner)
        {
            var name = segments[2].Replace(".png", string.Empty, StringComparison.Ordinal);
            var path = _store.ImagePath(owner.Id, name);
            return owner.Images.Contains(name) && File.Exists(path)
                ? await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false)
                : throw new Rejection($"{field} '{url}' names no image of this sandbox.");
        }

        if (!IsLoopback(url))
        {
            throw new Rejection($"{field}: the sandbox can only read images it served or loopback URLs (it has no network).");
        }

        try
        {
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new Rejection($"{field} '{url}' answered {(int)response.StatusCode}.");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var memory = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (memory.Length + read > 20L << 20)
                {
                    throw new Rejection($"{field} '{url}' is larger than 20 MiB.");
                }

                memory.Write(buffer, 0, read);
            }

            var bytes = memory.ToArray();
            _ = PngCodec.ReadSize(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidDataException)
        {
            throw new Rejection($"{field} '{url}' could not be read as an image ({ex.GetType().Name}).");
        }
    }

    private static bool IsLoopback(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) &&
        (uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip)));

    private void CompleteWithoutImages(SandboxTask task)
    {
        if (task.Error is null)
        {
            if (task.Operation == "seed")
            {
                task.SeedValue = _store.Get(task.ParentId!)!.Seed.ToString(CultureInfo.InvariantCulture);
            }
            else
            {
                (task.Content, task.FullContent) = Shorten(task.Prompt);
            }
        }

        task.Rendered = task.Error is null;
        _store.Save(task);
    }

    private static (List<string> Content, string Full) Shorten(string prompt)
    {
        string[] filler = ["a", "an", "the", "of", "with", "and", "in", "on", "at", "very", "really", "beautiful", "amazing", "highly", "detailed", "that", "which", "is", "are", "some", "by"];
        var words = prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var kept = words.Where(w => !filler.Contains(w.Trim(',', '.').ToLowerInvariant())).ToList();
        var content = new List<string>
        {
            string.Join(' ', kept),
            string.Join(' ', kept.Take(Math.Max(1, kept.Count * 3 / 4))),
            string.Join(' ', kept.Take(Math.Max(1, kept.Count / 2))),
            string.Join(' ', kept.Take(Math.Max(1, Math.Min(3, kept.Count)))),
        }.Distinct().ToList();
        var full = "**Important words:** " + string.Join(", ", kept.Take(6).Select(w => "`" + w + "`")) +
            "\n\n**Dropped:** " + string.Join(", ", words.Except(kept).Distinct().Select(w => "`" + w + "`"));
        return (content, full);
    }
}
