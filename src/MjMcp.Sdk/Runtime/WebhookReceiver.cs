using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MjMcp;

/// <summary>
/// A local receiver for the provider's webhooks (loopback only). It accepts POSTs whose
/// <c>x-webhook-secret</c> matches (constant-time comparison), rejects anything else with 401, hands each
/// update to the client (waiters wake at once, no polling) and to <see cref="Updated"/> (e.g. the journal).
/// Replayed callbacks are harmless: updates are idempotent. Hand-written over HttpListener so the SDK needs
/// no web framework; polling stays the fallback when a callback is late or lost.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private const string SecretHeader = "x-webhook-secret";
    private const long MaxBody = 1L << 20;
    private readonly HttpListener _listener = new();
    private readonly byte[] _secret;
    private readonly MjClient _client;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;

    private WebhookReceiver(MjClient client, Uri url, string secret, ILogger? logger)
    {
        _client = client;
        Url = url;
        Secret = secret;
        _secret = Encoding.UTF8.GetBytes(secret);
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Where the provider should POST (passed as webhook_url).</summary>
    public Uri Url { get; }

    /// <summary>The secret the provider echoes in x-webhook-secret (passed as webhook_secret). Never logged.</summary>
    public string Secret { get; }

    /// <summary>Every accepted update, after the client has been told.</summary>
    public event Action<FetchResponse>? Updated;

    /// <summary>Accepted updates so far.</summary>
    public int Accepted { get; private set; }

    /// <summary>Rejected requests so far (wrong or missing secret, bad body).</summary>
    public int Rejected { get; private set; }

    /// <summary>
    /// Starts listening on 127.0.0.1 (port 0 picks a free one) and attaches to <paramref name="client"/>, whose
    /// submissions then carry this webhook. A null secret makes a random one.
    /// </summary>
    public static WebhookReceiver Start(MjClient client, int port = 0, string path = "/mjmcp/webhook", string? secret = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        port = port == 0 ? FreePort() : port;
        var url = new Uri($"http://127.0.0.1:{port}/{path.Trim('/')}/");
        var receiver = new WebhookReceiver(client, url, secret ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(24)), logger);
        receiver._listener.Prefixes.Add(url.ToString());
        receiver._listener.Start();
        receiver._loop = Task.Run(receiver.LoopAsync);
        client.AttachWebhook(receiver);
        return receiver;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        _client.AttachWebhook(null);
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }

        _listener.Close();
        _stop.Dispose();
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            try
            {
                context.Response.StatusCode = await HandleAsync(context.Request).ConfigureAwait(false);
            }
#pragma warning disable CA1031 // One bad callback must not stop the receiver.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                Rejected++;
                context.Response.StatusCode = 400;
                Log(LogLevel.Warning, "Webhook rejected: " + ex.GetType().Name);
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    private async Task<int> HandleAsync(HttpListenerRequest request)
    {
        if (request.HttpMethod != "POST")
        {
            Rejected++;
            return 405;
        }

        var given = Encoding.UTF8.GetBytes(request.Headers[SecretHeader] ?? string.Empty);
        if (!CryptographicOperations.FixedTimeEquals(given, _secret))
        {
            Rejected++;
            Log(LogLevel.Warning, "Webhook rejected: wrong or missing x-webhook-secret.");
            return 401;
        }

        if (request.ContentLength64 > MaxBody)
        {
            Rejected++;
            return 413;
        }

        using var memory = new MemoryStream();
        await request.InputStream.CopyToAsync(memory).ConfigureAwait(false);
        var update = FetchResponse.Parse(memory.ToArray());
        if (string.IsNullOrEmpty(update.TaskId))
        {
            Rejected++;
            return 400;
        }

        Accepted++;
        _client.ReportUpdate(update);
        Updated?.Invoke(update);
        return 200;
    }

    private void Log(LogLevel level, string message)
    {
        if (_logger.IsEnabled(level))
        {
#pragma warning disable CA1848, CA2254 // Rare lines; the text holds no secret.
            _logger.Log(level, message);
#pragma warning restore CA1848, CA2254
        }
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
