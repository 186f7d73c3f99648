using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

/// <summary>Rendering off the request thread (two workers: a 4096² image is 64 MiB) and webhook delivery.</summary>
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
        RgbaImage ParentImage(string name)
        {
            var path = _store.ImagePath(parent!.Id, name);
            return parent.Images.Contains(name) && File.Exists(path)
                ? PngCodec.DecodeFile(path)
                : throw new Rejection($"image {name} of its parent task '{parent.Id}' is no longer stored. Submit again with a task that exists.");
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

        row.Render(this, task, ParentImage);
    }

    private void SaveGrid(SandboxTask task, Func<int, RgbaImage> candidate)
    {
        var parts = Enumerable.Range(1, 4).Select(candidate).ToArray();
        var grid = Pictures.Grid(parts[0], parts[1], parts[2], parts[3]);
        for (var i = 0; i < 4; i++)
        {
            SaveImage(task, (i + 1).ToString(CultureInfo.InvariantCulture), parts[i]);
        }

        SaveImage(task, "grid", grid);
    }

    private void SaveImage(SandboxTask task, string name, RgbaImage image)
    {
        // Streamed to its file: no PNG-sized buffer is held (a grid's is megabytes, and two renders run at once).
        task.Bytes += _store.WriteImage(task.Id, name, stream => PngCodec.Encode(image, stream));
        task.Images.Add(name);
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
