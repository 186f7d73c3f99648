using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using MjMcp.Imaging;

namespace MjMcp.Server;

/// <summary>
/// Light inline previews of task images: a JPEG of at most <see cref="MaxSide"/> px on the long side and at most
/// <see cref="MaxBytes"/> bytes; a grid's preview numbers its quadrants 1–4 so a model can pick an index by looking.
/// A finished task's image never changes, so each task's preview is made once and kept in memory and in the data
/// directory (previews/v2/{task}.jpg): repeated fetches, waits and resource reads, also after a restart, cost no
/// download, decode or encode. Downloads are bounded in size and time; a preview that cannot be made is simply left out.
/// </summary>
public sealed partial class PreviewService
{
    /// <summary>The long side of a preview, at most.</summary>
    public const int MaxSide = LightPreview.MaxSide;

    /// <summary>The size of a preview, at most (about 80 K characters of base64).</summary>
    public const int MaxBytes = LightPreview.MaxBytes;

    /// <summary>The format of every preview.</summary>
    public const string MimeType = "image/jpeg";

    private const long MaxDownloadBytes = 32L << 20;

    // Download buffers: its own small pool, not ArrayPool.Shared, whose per-thread caches could keep a megabytes-large
    // buffer on every pool thread; at most 2 downloads run at once (_gate), so 2 arrays of a size are kept.
    private static readonly ArrayPool<byte> Buffers = ArrayPool<byte>.Create((int)MaxDownloadBytes, 2);
    private readonly HttpClient _http;
    private readonly ILogger<PreviewService> _logger;
    private readonly ConcurrentDictionary<string, byte[]> _cache = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _gate = new(2);
    private readonly Func<Uri, bool> _allowed;
    private readonly string? _cacheDirectory;
    private readonly Func<Uri, bool, byte[]?>? _local;

    /// <summary>
    /// Creates the service; <paramref name="allowed"/> says which image URLs may be fetched (default: any http(s));
    /// <paramref name="cacheDirectory"/> (null: memory only) keeps each task's preview across restarts;
    /// <paramref name="local"/> (the embedded sandbox in this process) may hand over the preview of an image URL (and
    /// whether numbered) that it made while rendering, so no download or decode is needed; null from it: fetched as usual.
    /// </summary>
    public PreviewService(HttpClient http, ILogger<PreviewService> logger, Func<Uri, bool>? allowed = null, string? cacheDirectory = null, Func<Uri, bool, byte[]?>? local = null)
    {
        _http = http;
        _local = local;
        _logger = logger;
        _allowed = allowed ?? (_ => true);
        _cacheDirectory = cacheDirectory is null ? null : Path.Combine(cacheDirectory, "v2");
    }

    /// <summary>
    /// Which hosts previews may be fetched from: the provider's host, hosts that share its parent domain (an image CDN such
    /// as cdn.example.com beside api.example.com), and <paramref name="extraHosts"/>. Only http and https.
    /// </summary>
    public static Func<Uri, bool> ProviderHosts(Uri? provider, IEnumerable<string> extraHosts)
    {
        ArgumentNullException.ThrowIfNull(extraHosts);
        var exact = new HashSet<string>(extraHosts.Where(h => h.Length > 0), StringComparer.OrdinalIgnoreCase);
        string? parent = null;
        if (provider is not null)
        {
            exact.Add(provider.Host);
            var labels = provider.Host.Split('.');
            if (provider.HostNameType == UriHostNameType.Dns && labels.Length >= 3)
            {
                parent = string.Join('.', labels[1..]);
            }
        }

        return uri => uri.Scheme is "http" or "https"
            && (exact.Contains(uri.Host) || (parent is not null && (uri.Host.Equals(parent, StringComparison.OrdinalIgnoreCase) || uri.Host.EndsWith("." + parent, StringComparison.OrdinalIgnoreCase))));
    }

    /// <summary>
    /// Which image a task's preview shows: with several images and the original grid picture, the grid (numbered);
    /// else the first image.
    /// </summary>
    public static (string? Url, bool Grid) Choose(IReadOnlyList<string> urls, string? original)
    {
        ArgumentNullException.ThrowIfNull(urls);
        return urls.Count > 1 && original is not null ? (original, true) : (urls.Count > 0 ? urls[0] : null, false);
    }

    /// <summary>A preview of the image at <paramref name="url"/>, or null: a preview that cannot be made never fails the call.</summary>
    public Task<byte[]?> TryGetAsync(string url, CancellationToken cancellationToken) => TryGetAsync(url, null, false, cancellationToken);

    /// <summary>
    /// The preview of task <paramref name="taskId"/> (null: no task, cached by URL in memory only) whose image is at
    /// <paramref name="url"/>; <paramref name="grid"/> numbers its quadrants. Null when it cannot be made.
    /// </summary>
    public async Task<byte[]?> TryGetAsync(string url, string? taskId, bool grid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        var key = taskId ?? url;
        var file = taskId is null || _cacheDirectory is null ? null : Path.Combine(_cacheDirectory, FileName(taskId, grid));
        if (Cached(key, file) is { } cached)
        {
            return cached;
        }

        var parsed = Uri.TryCreate(url, UriKind.Absolute, out var uri);
        if (parsed && _local?.Invoke(uri!, grid) is { Length: > 0 } handed)
        {
            Remember(key, handed);
            if (file is not null)
            {
                Save(file, handed);
            }

            return handed;
        }

        if (!parsed || !_allowed(uri!))
        {
            Log.PreviewFailed(_logger, url, "not an http(s) URL on the provider's image hosts");
            return null;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another call for the same task may have made it while this one queued.
            if (Cached(key, file) is { } made)
            {
                return made;
            }

            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode || response.Content.Headers.ContentLength > MaxDownloadBytes)
            {
                Log.PreviewFailed(_logger, url, $"HTTP {(int)response.StatusCode}");
                return null;
            }

            // Read into one buffer of the announced size when there is one (a growing MemoryStream would copy a
            // grid's megabytes several times), then shrunk while decoding from that buffer. The buffer is rented: a
            // grid's PNG is megabytes, and a new array per preview would be a large-object allocation (zeroed pages, full
            // GCs) on every finished task.
            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            var buffer = Buffers.Rent(response.Content.Headers.ContentLength is { } announced and > 0 ? (int)announced + 1 : 1 << 20);
            byte[] preview;
            try
            {
                var length = 0;
                int read;
                while ((read = await stream.ReadAsync(buffer.AsMemory(length), timeout.Token).ConfigureAwait(false)) > 0)
                {
                    length += read;
                    if (length == buffer.Length)
                    {
                        if (length >= MaxDownloadBytes)
                        {
                            return null;
                        }

                        var larger = Buffers.Rent((int)Math.Min(MaxDownloadBytes, (long)buffer.Length * 2));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        Buffers.Return(buffer);
                        buffer = larger;
                    }
                }

                using var image = new MemoryStream(buffer, 0, length, writable: false);
                preview = Make(image, grid);
            }
            finally
            {
                Buffers.Return(buffer);
            }

            Remember(key, preview);
            if (file is not null)
            {
                Save(file, preview);
            }

            return preview;
        }
#pragma warning disable CA1031 // A preview is a nicety: whatever goes wrong making it, the finished task is still reported.
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
#pragma warning restore CA1031
        {
            Log.PreviewFailed(_logger, url, ex.Message);
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The preview of an encoded image: fitted within <see cref="MaxSide"/>, quadrants numbered when
    /// <paramref name="grid"/>, JPEG at the highest quality of a few that fits <see cref="MaxBytes"/>.
    /// </summary>
    public static byte[] Make(ReadOnlySpan<byte> image, bool grid)
    {
        using var stream = new MemoryStream(image.ToArray(), writable: false);
        return Make(stream, grid);
    }

    /// <summary>As the span overload, read in place (a grid's PNG is megabytes: no copy).</summary>
    public static byte[] Make(byte[] image, bool grid)
    {
        ArgumentNullException.ThrowIfNull(image);
        using var stream = new MemoryStream(image, writable: false);
        return Make(stream, grid);
    }

    /// <summary>The preview of an encoded image in a seekable stream (read from its start); see the span overload.</summary>
    public static byte[] Make(Stream image, bool grid)
    {
        ArgumentNullException.ThrowIfNull(image);

        // Shrunk while decoding when the reader covers the PNG (the usual case): ~3x faster, never the full image in memory.
        var thumbnail = PngThumbnail.TryDecode(image, MaxSide);
        if (thumbnail is null)
        {
            image.Position = 0;
            using var copy = new MemoryStream();
            image.CopyTo(copy);
            thumbnail = Pictures.Thumbnail(PngCodec.Decode(copy.ToArray()), MaxSide);
        }

        return LightPreview.FromThumbnail(thumbnail, grid);
    }

    private byte[]? Cached(string key, string? file)
    {
        if (_cache.TryGetValue(key, out var cached))
        {
            return cached;
        }

        if (file is null || !File.Exists(file))
        {
            return null;
        }

        try
        {
            var bytes = File.ReadAllBytes(file);
            Remember(key, bytes);
            return bytes;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null; // not made yet (or unreadable: made again)
        }
    }

    private void Remember(string key, byte[] preview)
    {
        if (_cache.Count > 256)
        {
            _cache.Clear();
        }

        _cache[key] = preview;
    }

    private void Save(string file, byte[] preview)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);

            // Written aside and renamed: a reader (another server on this data directory) never sees half a file.
            var temp = file + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(temp, preview);
            File.Move(temp, file, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.PreviewNotSaved(_logger, file, ex.Message);
        }
    }

    /// <summary>A file name for a task id: the id itself when it is plainly safe, else its SHA-256.</summary>
    private static string FileName(string taskId, bool grid)
    {
        var safe = taskId.Length is > 0 and <= 100 && taskId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');
        var name = safe ? taskId : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(taskId)));
        return name + (grid ? ".grid.jpg" : ".jpg");
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "No preview for {Url}: {Reason}")]
        public static partial void PreviewFailed(ILogger logger, string url, string reason);

        [LoggerMessage(2, LogLevel.Debug, "Preview not cached at {File}: {Reason}")]
        public static partial void PreviewNotSaved(ILogger logger, string file, string reason);
    }
}
