using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

/// <summary>
/// POST /upload: the provider's image upload. A multipart/form-data field <c>image</c> (PNG or JPEG, at most 20 MB)
/// becomes one of the sandbox's own stored images, so its URL passes the strict image-URL rule of describe, blend and
/// faceswap; the answer is <c>{"imageURL": "…"}</c>.
/// </summary>
public sealed partial class SandboxServer
{
    /// <summary>The path of the upload endpoint.</summary>
    internal const string UploadPath = "/upload";

    /// <summary>The multipart field that carries the image.</summary>
    internal const string UploadField = "image";

    /// <summary>The largest image accepted: 20 MB.</summary>
    internal const long MaxUploadBytes = 20L * 1024 * 1024;

    private async Task HandleUploadAsync(HttpContext context)
    {
        Counters.Request(UploadPath);
        if (!HasApiKey(context))
        {
            await WriteAsync(context, 401, Error("Invalid or missing API key: send it in the Authorization header.")).ConfigureAwait(false);
            return;
        }

        var (status, body) = await UploadAsync(context).ConfigureAwait(false);
        await WriteAsync(context, status, body).ConfigureAwait(false);
    }

    /// <summary>The key rule of every endpoint: bare or "Bearer &lt;key&gt;"; "Bearer" with no token is no key, also when any key is accepted.</summary>
    private bool HasApiKey(HttpContext context)
    {
        var auth = context.Request.Headers.Authorization.ToString();
        var key = auth.Trim().Equals("Bearer", StringComparison.OrdinalIgnoreCase) ? string.Empty
            : auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? auth[7..].Trim() : auth.Trim();
        return key.Length > 0 && (Options.ApiKey is null || string.Equals(key, Options.ApiKey, StringComparison.Ordinal));
    }

    private async Task<(int, byte[])> UploadAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType || !(context.Request.ContentType ?? string.Empty).StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            return (400, Error($"Send the image as multipart/form-data in the field '{UploadField}'."));
        }

        IFormCollection form;
        try
        {
            form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or BadHttpRequestException)
        {
            return (400, Error($"The multipart body could not be read; send the image as multipart/form-data in the field '{UploadField}'."));
        }

        var file = form.Files.GetFile(UploadField);
        if (file is null)
        {
            return (400, Error($"'{UploadField}' is required: send the image as a file in the multipart field '{UploadField}'."));
        }

        if (file.Length == 0)
        {
            return (400, Error($"'{UploadField}' is empty: send a PNG or JPEG."));
        }

        if (file.Length > MaxUploadBytes)
        {
            return (400, Error($"'{UploadField}' is larger than 20 MB: send a smaller PNG or JPEG."));
        }

        byte[] bytes;
        using (var buffer = new MemoryStream((int)file.Length))
        {
            await using (var stream = file.OpenReadStream())
            {
                await stream.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            }

            bytes = buffer.ToArray();
        }

        RgbaImage image;
        try
        {
            image = PngCodec.Decode(bytes);
        }
        catch (InvalidDataException ex)
        {
            return (400, Error($"'{UploadField}' is not a readable PNG or JPEG: {ex.Message}"));
        }

        var now = Options.TimeProvider.GetUtcNow();
        var task = new SandboxTask
        {
            Id = Guid.NewGuid().ToString(),
            Operation = "upload",
            TaskType = "upload",
            CreatedAt = now,
            FinishedAt = now,
            Rendered = true,
            Prompt = Path.GetFileName(file.FileName ?? string.Empty),
        };
        const string Name = "image";
        task.Bytes += _store.WriteImage(task.Id, Name, PngCodec.Encode(image));
        task.Images.Add(Name);
        if (!_store.TryAdd(task))
        {
            return (500, Error("The image could not be stored; upload it again."));
        }

        _store.Evict();
        var url = ImageUrl(task, Name);
        return (200, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("imageURL", url);
            w.WriteEndObject();
        }));
    }
}
