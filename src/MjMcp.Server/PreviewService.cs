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
    private readonly Func<Uri, bool> _allowed;

    /// <summary>Creates the service; <paramref name="allowed"/> says which image URLs may be fetched (default: any http(s)).</summary>
    public PreviewService(HttpClient http, ILogger<PreviewService> logger, Func<Uri, bool>? allowed = null)
    {
        _http = http;
        _logger = logger;
        _allowed = allowed ?? (_ => true);
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

    /// <summary>A PNG preview of the image at <paramref name="url"/>, or null: a preview that cannot be made never fails the call.</summary>
    public async Task<byte[]?> TryGetAsync(string url, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(url, out var cached))
        {
            return cached;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !_allowed(uri))
        {
            Log.PreviewFailed(_logger, url, "not an http(s) URL on the provider's image hosts");
            return null;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var response = await _http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
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

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "No preview for {Url}: {Reason}")]
        public static partial void PreviewFailed(ILogger logger, string url, string reason);
    }
}
