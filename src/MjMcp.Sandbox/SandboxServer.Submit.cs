using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

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
        var operation = HandWrittenByPath[path];
        SandboxTask task;
        try
        {
            task = await CreateAsync(operation, body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (Rejection rejection)
        {
            return (400, Error(rejection.Message));
        }

        return Accept(task, body, operation.CreditsOf(task), withoutImages: operation.Render is null);
    }

    // Accepted jobs not yet seen finished or failed (pruned at each accept), for Counters.MaxRunning.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<SandboxTask, byte> _live = new();

    /// <summary>How many jobs are running now, the new one included (a job runs until its status is finished or failed).</summary>
    private int CountRunning(SandboxTask accepted)
    {
        _live.TryAdd(accepted, 0);
        var running = 0;
        foreach (var task in _live.Keys)
        {
            if (StatusOf(task).Status is "finished" or "failed")
            {
                _live.TryRemove(task, out _);
            }
            else
            {
                running++;
            }
        }

        return running;
    }

    /// <summary>Stores an accepted task, spends its credits, starts it and its webhooks; the provider's 200 {task_id}.</summary>
    private (int, byte[]) Accept(SandboxTask task, JsonElement body, int credits, bool withoutImages)
    {
        task.WebhookUrl = Text(body, "webhook_url");
        task.WebhookSecret = Text(body, "webhook_secret");
        PlanStatuses(task);
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
        Counters.Running(CountRunning(task));
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

    /// <summary>The provider's own checks of a hand-written operation (its row's), then the task they describe.</summary>
    private async Task<SandboxTask> CreateAsync(HandWrittenOperation row, JsonElement body, CancellationToken cancellationToken)
    {
        if (Text(body, "webhook_url") is { } hook && !IsLoopback(hook))
        {
            throw new Rejection("webhook_url must be an http(s) URL on this machine (the sandbox only calls loopback).");
        }

        CheckPromptLength(body);
        var draft = await row.Check(this, row, body, cancellationToken).ConfigureAwait(false);
        var operation = row.Name;
        var parameters = draft.Parameters;
        var parent = draft.Parent;
        var prompt = draft.Prompt;
        var taskType = draft.TaskType ?? operation;
        var inputs = draft.Inputs;
        var seed = (long)(Pictures.Hash(prompt + "|" + operation + "|" + (parent?.Id ?? string.Empty) + "|" + string.Join(",", parameters.Select(p => p.Key + "=" + p.Value)), 0, 0) % 4_294_967_295UL);
        var task = new SandboxTask
        {
            Id = Guid.NewGuid().ToString(),
            Operation = operation,
            TaskType = taskType,
            ParentId = parent?.Id,
            Prompt = prompt,
            Seed = seed,
            Stage = row.Stage,
            CreatedAt = Options.TimeProvider.GetUtcNow(),
            Params = parameters,
            Inputs = inputs,
        };
        if (row.Moderated && Banned(prompt) is { } word)
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
