using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using MjMcp.Imaging;

namespace MjMcp.Server;

/// <summary>
/// Small inline PNG previews of task images (at most 256 px a side), so an agent can show what it made.
/// Downloads are bounded in size and time; a preview that cannot be made is simply left out.
/// </summary>
public sealed partial class PreviewService
{
    private const int MaxSide = 256;
    private const long MaxDownloadBytes = 32L << 20;
    private readonly HttpClient _http;
    private readonly ILogger<PreviewService> _logger;
    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(2);

    /// <summary>Creates the service.</summary>
    public PreviewService(HttpClient http, ILogger<PreviewService> logger)
    {
        _http = http;
        _logger = logger;
    }

    /// <summary>A PNG preview of the image at <paramref name="url"/>, or null.</summary>
    public async Task<byte[]?> TryGetAsync(string url, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(url, out var cached))
        {
            return cached;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await _http.GetAsync(new Uri(url), HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength > MaxDownloadBytes)
            {
                return null;
            }

            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            using var memory = new MemoryStream();
            var buffer = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(buffer, timeout.Token).ConfigureAwait(false)) > 0)
            {
                if (memory.Length + read > MaxDownloadBytes)
                {
                    return null;
                }

                memory.Write(buffer, 0, read);
            }

            var image = PngCodec.Decode(memory.GetBuffer().AsSpan(0, (int)memory.Length));
            var preview = PngCodec.Encode(Pictures.Thumbnail(image, MaxSide));
            if (_cache.Count > 256)
            {
                _cache.Clear();
            }

            _cache[url] = preview;
            return preview;
        }
        catch (Exception ex) when (ex is HttpRequestException or InvalidDataException or OperationCanceledException or ArgumentException or UriFormatException)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                throw;
            }

            Log.PreviewFailed(_logger, url, ex.Message);
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "No preview for {Url}: {Reason}")]
        public static partial void PreviewFailed(ILogger logger, string url, string reason);
    }
}
