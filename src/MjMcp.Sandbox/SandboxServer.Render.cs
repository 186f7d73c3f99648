using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

/// <summary>Rendering off the request thread (<see cref="RenderWorkers"/> workers: a 4096² image is 64 MiB) and webhook delivery.</summary>
public sealed partial class SandboxServer
{
    private async Task RenderLoopAsync()
    {
        await foreach (var task in _queue.Reader.ReadAllAsync(_stopping.Token).ConfigureAwait(false))
        {
            try
            {
                Render(task);
                task.Rendered = true;
            }
            catch (Rejection missing)
            {
                task.Error = "The image could not be made: " + missing.Message;
                Log.RenderFailed(_logger, task.Id, missing.Message);
            }
#pragma warning disable CA1031 // A render failure becomes a failed task, like the provider's, with no internals in its message.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                task.Error = ex is NullReferenceException or IOException or UnauthorizedAccessException
                    ? "The image could not be made (internal error in the sandbox); submit again."
                    : "The image could not be made: " + ex.Message;
                Log.RenderFailed(_logger, task.Id, ex.ToString());
            }

            if (task.Error is not null)
            {
                Interlocked.Increment(ref _renderFailures);
            }

            task.Inputs = null;
            MarkDone(task);
            _store.Save(task);
            _store.Evict();
        }
    }

    private void Render(SandboxTask task)
    {
        var parent = task.ParentId is null ? null : _store.Get(task.ParentId) ?? throw new Rejection($"its parent task '{task.ParentId}' is no longer stored. Submit again with a task that exists.");
        var decoded = new List<RgbaImage>();
        RgbaImage ParentImage(string name)
        {
            var path = _store.ImagePath(parent!.Id, name);
            var image = parent.Images.Contains(name) && File.Exists(path)
                ? PngCodec.DecodeFile(path)
                : throw new Rejection($"image {name} of its parent task '{parent.Id}' is no longer stored. Submit again with a task that exists.");
            decoded.Add(image);
            return image;
        }

        if (task.SpecMade)
        {
            RenderFromSpec(task, parent);
            return;
        }

        if (!HandWrittenByName.TryGetValue(task.Operation, out var row) || row.Render is null)
        {
            throw new InvalidOperationException($"the sandbox does not render {task.Operation}.");
        }

        try
        {
            row.Render(this, task, ParentImage);
        }
        finally
        {
            // Every image is written by now and nothing refers to the parent's pixels: their arrays are reused.
            decoded.ForEach(PixelPool.Return);
        }
    }

    /// <summary>Renders at once: one per core, at most 4 (a full-size pan's grid is 24 MiB; each render also draws on every core).</summary>
    private static int RenderWorkers => Math.Clamp(Environment.ProcessorCount, 1, 4);

    /// <summary>Four images made one at a time: each is pasted into the grid and dropped (never four held at once).</summary>
    private void SaveGrid(SandboxTask task, Func<int, RgbaImage> candidate)
    {
        var first = candidate(1);
        SaveGrid(task, first.Width, first.Height, (grid, left, top, variant) =>
        {
            var part = variant == 1 ? first : candidate(variant);
            if (part.Width != first.Width || part.Height != first.Height)
            {
                throw new ArgumentException("All four grid images must be the same size.", nameof(candidate));
            }

            Pictures.Paste(grid, part, left, top);
        });
    }

    /// <summary>
    /// A grid drawn in place: <paramref name="draw"/> renders variant 1..4 into its quadrant of one picture, so no
    /// separate candidate images exist; each quadrant's PNG is written straight from the grid, then the grid's PNG and
    /// its light preview (for an embedded server: see <see cref="TryReadPreview"/>). Nothing is kept once written.
    /// </summary>
    private void SaveGrid(SandboxTask task, int width, int height, Action<RgbaImage, int, int, int> draw)
    {
        // Every pixel is drawn, so a reused array needs no clearing.
        var grid = PixelPool.Rent(width * 2, height * 2);
        try
        {
            for (var variant = 1; variant <= 4; variant++)
            {
                draw(grid, ((variant - 1) % 2) * width, ((variant - 1) / 2) * height, variant);
            }

            for (var i = 0; i < 4; i++)
            {
                var (left, top) = ((i % 2) * width, (i / 2) * height);
                task.Bytes += _store.WriteImage(task.Id, (i + 1).ToString(CultureInfo.InvariantCulture), stream => PngCodec.Encode(grid, left, top, width, height, stream, PngEncoderOptions.Default));
                task.Images.Add((i + 1).ToString(CultureInfo.InvariantCulture));
            }

            SaveImage(task, "grid", grid, preview: true, numbered: true);
        }
        finally
        {
            PixelPool.Return(grid);
        }
    }

    private void SaveImage(SandboxTask task, string name, RgbaImage image) => SaveImage(task, name, image, preview: name == "image", numbered: false);

    private void SaveImage(SandboxTask task, string name, RgbaImage image, bool preview, bool numbered)
    {
        // Streamed to its file: no PNG-sized buffer is held (a grid's is megabytes, and renders run in parallel).
        task.Bytes += _store.WriteImage(task.Id, name, stream => PngCodec.Encode(image, stream));
        if (preview)
        {
            // Made now from the pixels in hand: an embedded server reads it instead of downloading and decoding the PNG.
            var jpeg = LightPreview.Make(image, numbered);
            task.Bytes += _store.WriteFile(_store.PreviewPath(task.Id, name, numbered), stream => stream.Write(jpeg));
        }

        task.Images.Add(name);
    }

    /// <summary>
    /// The light preview (see <see cref="LightPreview"/>) the sandbox made when it rendered the image at
    /// <paramref name="imageUrl"/>, quadrants numbered when <paramref name="numbered"/>; null when that URL is not one of
    /// its own images or no such preview was made (the caller then makes it from the image). For an embedded server in
    /// the same process: no HTTP, no PNG decode.
    /// </summary>
    public byte[]? TryReadPreview(Uri imageUrl, bool numbered)
    {
        ArgumentNullException.ThrowIfNull(imageUrl);
        if (!imageUrl.IsAbsoluteUri || !string.Equals(imageUrl.Scheme, BaseUrl.Scheme, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(imageUrl.Host, BaseUrl.Host, StringComparison.OrdinalIgnoreCase) || imageUrl.Port != BaseUrl.Port
            || imageUrl.AbsolutePath.Split('/') is not ["", "images", var id, var file] || !file.EndsWith(".png", StringComparison.Ordinal)
            || _store.Get(id) is not { } task || !task.Images.Contains(file[..^4]))
        {
            return null;
        }

        try
        {
            return File.ReadAllBytes(_store.PreviewPath(task.Id, file[..^4], numbered));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // not made (an older task, another image) or evicted meanwhile
        }
    }

    private static RgbaImage Mix(RgbaImage source, RgbaImage other, float amount)
    {
        var result = new RgbaImage(source.Width, source.Height);
        for (var i = 0; i < result.Pixels.Length; i++)
        {
            result.Pixels[i] = (byte)((source.Pixels[i] * (1 - amount)) + (other.Pixels[i] * amount) + 0.5f);
        }

        return result;
    }

    /// <summary>Candidate size for an aspect ratio: the long side is <paramref name="side"/>.</summary>
    private static (int Width, int Height) Size(string? aspectRatio, int side)
    {
        if (aspectRatio?.Split(':') is [var a, var b] && int.TryParse(a, CultureInfo.InvariantCulture, out var w) && int.TryParse(b, CultureInfo.InvariantCulture, out var h) && w > 0 && h > 0)
        {
            return w >= h ? (side, Math.Max(16, side * h / w)) : (Math.Max(16, side * w / h), side);
        }

        return (side, side);
    }

    /// <summary>POSTs each change of status, and the final result, in the /fetch shape with x-webhook-secret.</summary>
    private async Task DeliverWebhooksAsync(SandboxTask task)
    {
        var last = string.Empty;
        var step = WebhookStep();
        try
        {
            while (!_stopping.IsCancellationRequested)
            {
                var (status, percentage) = StatusOf(task);
                var key = status + percentage.ToString(CultureInfo.InvariantCulture);
                if (key != last)
                {
                    last = key;
                    using var request = new HttpRequestMessage(HttpMethod.Post, task.WebhookUrl) { Content = new ByteArrayContent(Json(w => WriteTask(w, task))) };
                    request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                    if (task.WebhookSecret is not null)
                    {
                        request.Headers.TryAddWithoutValidation("x-webhook-secret", task.WebhookSecret);
                    }

                    try
                    {
                        using var response = await _http.SendAsync(request, _stopping.Token).ConfigureAwait(false);
                    }
                    catch (HttpRequestException ex)
                    {
                        Log.WebhookFailed(_logger, task.Id, ex.Message);
                    }
                }

                if (status is "finished" or "failed")
                {
                    return;
                }

                await Task.Delay(step, Options.TimeProvider, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Sandbox task {TaskId} could not be rendered: {Reason}")]
        public static partial void RenderFailed(ILogger logger, string taskId, string reason);

        [LoggerMessage(2, LogLevel.Warning, "Webhook for task {TaskId} failed: {Reason}")]
        public static partial void WebhookFailed(ILogger logger, string taskId, string reason);
    }
}
