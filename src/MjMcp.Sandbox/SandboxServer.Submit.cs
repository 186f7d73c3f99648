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

/// <summary>A checked image URL: one of the sandbox's own images (task id and name), or a URL on an allowed host.</summary>
internal sealed record ImageSource(string? TaskId, string? Name, Uri? Url);

public sealed partial class SandboxServer
{
    /// <summary>The longest prompt accepted, in UTF-8 bytes (the provider refuses absurd prompts; a spec's max_length wins for its operations).</summary>
    internal const int MaxPromptBytes = 8192;

    /// <summary>The longest image URL accepted.</summary>
    internal const int MaxUrlLength = 4096;

    /// <summary>Refuses a prompt longer than <paramref name="limit"/> UTF-8 bytes.</summary>
    private static void CheckPromptLength(JsonElement body, int limit = MaxPromptBytes)
    {
        if (Text(body, "prompt") is { } prompt && (prompt.Length > limit || System.Text.Encoding.UTF8.GetByteCount(prompt) > limit))
        {
            throw new Rejection($"prompt is too long: at most {limit} bytes (UTF-8) are accepted. Shorten it (/shorten helps) and submit again.");
        }
    }

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
        if (task.Error is not null)
        {
            MarkDone(task);
        }

        // The parent was checked finished a moment ago; it is pinned here, atomically with that it still exists.
        if (!_store.TryAdd(task))
        {
            return (400, Error($"The parent task '{task.ParentId}' was not found: it is no longer stored. Submit again with a task that exists."));
        }

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

        CheckPromptLength(body);
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
                {
                    var image = CheckImageUrl(Text(body, "image_url"), "image_url");
                    inputs = [await ReadImageAsync(image, "image_url", cancellationToken).ConfigureAwait(false)];
                    prompt = Text(body, "image_url")!;
                    break;
                }

            case "faceswap":
                {
                    // Both checked before either is read: a refused URL means nothing was fetched.
                    var target = CheckImageUrl(Text(body, "target_image_url"), "target_image_url");
                    var swap = CheckImageUrl(Text(body, "swap_image_url"), "swap_image_url");
                    inputs =
                    [
                        await ReadImageAsync(target, "target_image_url", cancellationToken).ConfigureAwait(false),
                        await ReadImageAsync(swap, "swap_image_url", cancellationToken).ConfigureAwait(false),
                    ];
                    prompt = Text(body, "target_image_url") + " " + Text(body, "swap_image_url");
                    break;
                }

            case "blend":
                {
                    if (!body.TryGetProperty("image_urls", out var urls) || urls.ValueKind != JsonValueKind.Array || urls.GetArrayLength() is < 2 or > 5)
                    {
                        throw new Rejection("image_urls must be a list of 2 to 5 image URLs.");
                    }

                    parameters["dimension"] = Text(body, "dimension") is null ? "square" : OneOf(body, "dimension", ["square", "portrait", "landscape"]);
                    // Every URL checked before any is read: a refused URL means nothing was fetched.
                    var sources = urls.EnumerateArray().Select(url => CheckImageUrl(url.ValueKind == JsonValueKind.String ? url.GetString() : null, "image_urls")).ToList();
                    inputs = [];
                    foreach (var source in sources)
                    {
                        inputs.Add(await ReadImageAsync(source, "image_urls", cancellationToken).ConfigureAwait(false));
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

    /// <summary>
    /// Checks an image URL before anything is created, spent or fetched: it must name an image this sandbox stores, under its
    /// own base URL (read from storage, never over HTTP), or point to a host of <see cref="SandboxOptions.AllowedImageHosts"/>
    /// (fetched later, 10 s, 20 MiB, no redirects). Anything else is refused, so the sandbox never contacts an arbitrary address.
    /// </summary>
    private ImageSource CheckImageUrl(string? url, string field)
    {
        if (url is null || url.Length > MaxUrlLength || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new Rejection($"{field} must be an http(s) image URL of at most {MaxUrlLength} characters.");
        }

        if (uri.UserInfo.Length > 0)
        {
            throw new Rejection($"{field} must not carry credentials (user:password@).");
        }

        if (string.Equals(uri.Scheme, BaseUrl.Scheme, StringComparison.OrdinalIgnoreCase) && string.Equals(uri.Host, BaseUrl.Host, StringComparison.OrdinalIgnoreCase) && uri.Port == BaseUrl.Port)
        {
            var segments = uri.AbsolutePath.Split('/');
            if (segments is ["", "images", var id, var file] && _store.Get(id) is { } owner)
            {
                var name = file.EndsWith(".png", StringComparison.Ordinal) ? file[..^4] : file;
                if (owner.Images.Contains(name) && File.Exists(_store.ImagePath(owner.Id, name)))
                {
                    return new ImageSource(owner.Id, name, null);
                }
            }

            throw new Rejection($"{field} '{Short(url)}' names no image this sandbox stores (its images are {BaseUrl}images/{{task_id}}/{{name}}.png, as /fetch lists them).");
        }

        if (IsAllowedHost(uri))
        {
            return new ImageSource(null, null, uri);
        }

        throw new Rejection($"{field} '{Short(url)}' is not allowed: the sandbox reads only its own images ({BaseUrl}images/...) and hosts listed in SandboxOptions.AllowedImageHosts; it fetches nothing else.");
    }

    private bool IsAllowedHost(Uri uri)
    {
        var host = uri.Host.Trim('[', ']');
        foreach (var entry in Options.AllowedImageHosts)
        {
            var text = entry.Trim();
            string name;
            int? port = null;
            if (text.StartsWith('['))
            {
                var close = text.IndexOf(']', StringComparison.Ordinal);
                if (close < 0)
                {
                    continue;
                }

                name = text[1..close];
                var rest = text[(close + 1)..];
                if (rest.StartsWith(':') && int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out var p))
                {
                    port = p;
                }
                else if (rest.Length > 0)
                {
                    continue;
                }
            }
            else if (text.Count(c => c == ':') == 1)
            {
                var colon = text.IndexOf(':', StringComparison.Ordinal);
                name = text[..colon];
                if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var p))
                {
                    continue;
                }

                port = p;
            }
            else
            {
                name = text;
            }

            if (string.Equals(name, host, StringComparison.OrdinalIgnoreCase) && (port is null || port == uri.Port))
            {
                return true;
            }
        }

        return false;
    }

    private static string Short(string text) => text.Length <= 200 ? text : text[..200] + "...";

    /// <summary>The bytes of a checked image: from storage for the sandbox's own, else fetched from an allowed host (10 s, 20 MiB).</summary>
    private async Task<byte[]> ReadImageAsync(ImageSource source, string field, CancellationToken cancellationToken)
    {
        if (source.TaskId is { } id)
        {
            try
            {
                return await File.ReadAllBytesAsync(_store.ImagePath(id, source.Name!), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new Rejection($"{field}: the image of task {id} is no longer stored.");
            }
        }

        var uri = source.Url!;
        try
        {
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new Rejection($"{field} '{Short(uri.ToString())}' answered {(int)response.StatusCode}.");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            using var memory = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (memory.Length + read > 20L << 20)
                {
                    throw new Rejection($"{field} '{Short(uri.ToString())}' is larger than 20 MiB.");
                }

                memory.Write(buffer, 0, read);
            }

            var bytes = memory.ToArray();
            _ = PngCodec.ReadSize(bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidDataException)
        {
            throw new Rejection($"{field} '{Short(uri.ToString())}' could not be read as an image ({ex.GetType().Name}).");
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
                if (task.ParentId is { } parentId && _store.Get(parentId) is { } parent)
                {
                    task.SeedValue = parent.Seed.ToString(CultureInfo.InvariantCulture);
                }
                else
                {
                    task.Error = $"The seed could not be read: the parent task '{task.ParentId}' is no longer stored.";
                }
            }
            else
            {
                (task.Content, task.FullContent) = Shorten(task.Prompt);
            }
        }

        task.Rendered = task.Error is null;
        MarkDone(task);
        _store.Save(task);
        _store.Evict();
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
