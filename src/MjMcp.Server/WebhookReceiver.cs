using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MjMcp.Server;

/// <summary>Settings of a <see cref="WebhookReceiver"/>.</summary>
public sealed class WebhookReceiverOptions
{
    /// <summary>The loopback port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>The only path that accepts POSTs.</summary>
    public string Path { get; set; } = "/mjmcp/webhook";

    /// <summary>The secret the provider must echo in <c>x-webhook-secret</c>; null makes a random one (24 bytes, hex). Never logged.</summary>
    public string? Secret { get; set; }

    /// <summary>The largest body accepted, chunked or not (413 above it). 1 MiB; at most 64 MiB.</summary>
    public long MaxBodyBytes { get; set; } = 1L << 20;

    /// <summary>The time the request line and headers have to arrive.</summary>
    public TimeSpan HeadersTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The time the whole body has to arrive, from the end of the headers; a slower request is dropped.</summary>
    public TimeSpan BodyTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Requests handled at once; more get 503 with Retry-After (the provider's updates are idempotent).</summary>
    public int MaxConcurrentRequests { get; set; } = 64;
}

/// <summary>An accepted webhook: the update in the /fetch shape, and the <c>intent</c> query parameter of the URL it came to, if valid.</summary>
/// <param name="Update">The task's state as the provider sent it.</param>
/// <param name="IntentId">The <c>?intent=</c> value (1–64 of [A-Za-z0-9_-]), or null when absent or not of that form.</param>
public sealed record WebhookUpdate(FetchResponse Update, string? IntentId);

/// <summary>
/// The provider's webhooks, received on Kestrel on 127.0.0.1 only. Each POST to <see cref="Url"/> must carry
/// <c>x-webhook-secret</c> equal to <see cref="Secret"/> (compared in constant time, before any of the body is
/// read: 401 otherwise). Bodies are capped at <see cref="WebhookReceiverOptions.MaxBodyBytes"/> whether or not they
/// declare a length (413), must arrive within <see cref="WebhookReceiverOptions.BodyTimeout"/> (408, connection
/// dropped) and must be a /fetch-shaped JSON object with a task_id (400). Requests are handled concurrently, so one
/// slow sender never holds up another. An accepted update goes to <see cref="MjClient.ReportUpdate"/> (waiters wake
/// without polling) and then to <see cref="Updated"/>; replays are harmless because updates are idempotent.
/// While running, the client's submissions carry this receiver's URL and secret (<see cref="MjClient.UseWebhook"/>).
/// </summary>
public sealed partial class WebhookReceiver : IAsyncDisposable
{
    private const string SecretHeader = "x-webhook-secret";
    private const string IntentParameter = "intent";
    private const int MaxIntentLength = 64;
    private static readonly TimeSpan StopBudget = TimeSpan.FromSeconds(4);

    private readonly WebApplication _app;
    private readonly MjClient _client;
    private readonly WebhookReceiverOptions _options;
    private readonly PathString _path;
    private readonly byte[] _secretHash;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _slots;
    private readonly CancellationTokenSource _stopping = new();
    private int _accepted;
    private int _rejected;
    private int _disposed;

    private WebhookReceiver(WebApplication app, MjClient client, WebhookReceiverOptions options, PathString path, string secret, ILogger logger)
    {
        _app = app;
        _client = client;
        _options = options;
        _path = path;
        Secret = secret;
        _secretHash = SHA256.HashData(Encoding.UTF8.GetBytes(secret));
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxConcurrentRequests, options.MaxConcurrentRequests);
        Url = null!;
        Target = null!;
    }

    /// <summary>Where the provider should POST (webhook_url); per-submit URLs add <c>?intent=&lt;id&gt;</c>.</summary>
    public Uri Url { get; private set; }

    /// <summary>The secret the provider echoes in x-webhook-secret (webhook_secret). Never logged.</summary>
    public string Secret { get; }

    /// <summary>The URL and secret as the client uses them (its <see cref="WebhookTarget.ToString"/> hides the secret).</summary>
    public WebhookTarget Target { get; private set; }

    /// <summary>Updates accepted so far (200).</summary>
    public int Accepted => Volatile.Read(ref _accepted);

    /// <summary>Requests refused so far (wrong path or method, wrong or missing secret, too large, too slow, bad body, busy).</summary>
    public int Rejected => Volatile.Read(ref _rejected);

    /// <summary>Requests whose body is being read or handled now (for tests).</summary>
    internal int InFlight => _options.MaxConcurrentRequests - _slots.CurrentCount;

    /// <summary>Every accepted update, after the client has been told. Handlers run on the request's thread; one that throws makes the reply 500.</summary>
    public event Action<WebhookUpdate>? Updated;

    /// <summary>
    /// Starts Kestrel on 127.0.0.1 and points <paramref name="client"/>'s submissions at it
    /// (<see cref="MjClient.UseWebhook"/>). Kestrel logs nothing to the console; its warnings and errors go to
    /// <paramref name="logger"/>, if given.
    /// </summary>
    public static async Task<WebhookReceiver> StartAsync(MjClient client, WebhookReceiverOptions options, ILogger? logger = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(options);
        Validate(options);
        var path = new PathString("/" + options.Path.Trim('/'));
        var secret = options.Secret ?? Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
        logger ??= NullLogger.Instance;

        // No defaults: no configuration sources (a "Kestrel" section or ASPNETCORE_URLS must not add endpoints),
        // no console logging (the MCP server's stdout carries JSON-RPC only).
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore();
        builder.Logging.ClearProviders();
        builder.Logging.AddProvider(new ForwardingLoggerProvider(logger));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Listen(IPAddress.Loopback, options.Port, listen => listen.Protocols = HttpProtocols.Http1);
            k.Limits.MaxRequestBodySize = options.MaxBodyBytes;
            k.Limits.RequestHeadersTimeout = options.HeadersTimeout;
            k.Limits.KeepAliveTimeout = options.HeadersTimeout > TimeSpan.FromSeconds(30) ? options.HeadersTimeout : TimeSpan.FromSeconds(30);
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.MaxRequestLineSize = 8 * 1024;

            // Idle keep-alive connections cost little, but not nothing: a bounded multiple of the request slots.
            k.Limits.MaxConcurrentConnections = Math.Max(16, (long)options.MaxConcurrentRequests * 4);
        });
        var app = builder.Build();
        var receiver = new WebhookReceiver(app, client, options, path, secret, logger);
        app.Run(receiver.HandleAsync);
        try
        {
            await app.StartAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            receiver._slots.Dispose();
            receiver._stopping.Dispose();
            throw;
        }

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(address.TrimEnd('/') + path.Value);
        receiver.Target = new WebhookTarget(receiver.Url, secret);
        client.UseWebhook(receiver.Target);
        Log.Listening(logger, receiver.Url);
        return receiver;
    }

    /// <summary>Detaches from the client and stops Kestrel (within about 5 s; requests still running are aborted).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (Target is not null && ReferenceEquals(_client.Webhook, Target))
        {
            _client.UseWebhook(null);
        }

        // Handlers still reading a body give up at once; Kestrel then aborts whatever is left after the budget.
        await _stopping.CancelAsync().ConfigureAwait(false);
        using (var budget = new CancellationTokenSource(StopBudget))
        {
            try
            {
                await _app.StopAsync(budget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _slots.Dispose();
        _stopping.Dispose();
    }

    /// <summary>The <c>intent</c> value if it is 1–64 characters of [A-Za-z0-9_-], else null.</summary>
    internal static string? ParseIntent(IQueryCollection query)
    {
        if (!query.TryGetValue(IntentParameter, out var values) || values.Count != 1 || values[0] is not { Length: > 0 and <= MaxIntentLength } value)
        {
            return null;
        }

        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return null;
            }
        }

        return value;
    }

    private static void Validate(WebhookReceiverOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Port, 0, nameof(options.Port));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Port, IPEndPoint.MaxPort, nameof(options.Port));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Path, nameof(options.Path));
        if (options.Path.Trim('/').Length == 0 || options.Path.Contains('?', StringComparison.Ordinal) || options.Path.Contains('#', StringComparison.Ordinal))
        {
            throw new ArgumentException("The webhook path must be a non-root path without a query, e.g. /mjmcp/webhook.", nameof(options));
        }

        if (options.Secret is { Length: 0 })
        {
            throw new ArgumentException("The webhook secret must not be empty (null makes a random one).", nameof(options));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBodyBytes, 1, nameof(options.MaxBodyBytes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxBodyBytes, 64L << 20, nameof(options.MaxBodyBytes));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.HeadersTimeout, TimeSpan.Zero, nameof(options.HeadersTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.BodyTimeout, TimeSpan.Zero, nameof(options.BodyTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxConcurrentRequests, 1, nameof(options.MaxConcurrentRequests));
    }

    private async Task HandleAsync(HttpContext context)
    {
        var span = ServerTelemetry.WebhookReceive();
        var status = await ProcessAsync(context).ConfigureAwait(false);
        ServerTelemetry.WebhookAnswered(span, status);
        if (status != StatusCodes.Status200OK)
        {
            Interlocked.Increment(ref _rejected);
        }

        if (!context.Response.HasStarted)
        {
            context.Response.StatusCode = status;
            context.Response.ContentLength = 0;
            if (status is StatusCodes.Status401Unauthorized or StatusCodes.Status413PayloadTooLarge or StatusCodes.Status408RequestTimeout)
            {
                // Whatever is left of the body is not wanted: no keep-alive, so nothing is drained.
                context.Response.Headers.Connection = "close";
            }
        }
    }

    private async Task<int> ProcessAsync(HttpContext context)
    {
        var request = context.Request;
        if (!request.Path.Equals(_path, StringComparison.Ordinal) && !request.Path.Equals(_path.Add("/"), StringComparison.Ordinal))
        {
            return StatusCodes.Status404NotFound;
        }

        if (!HttpMethods.IsPost(request.Method))
        {
            context.Response.Headers.Allow = "POST";
            return StatusCodes.Status405MethodNotAllowed;
        }

        // The secret first: a stranger's body is never read.
        if (!SecretMatches(request.Headers[SecretHeader]))
        {
            Log.WrongSecret(_logger);
            return StatusCodes.Status401Unauthorized;
        }

        if (request.ContentLength > _options.MaxBodyBytes)
        {
            Log.TooLarge(_logger, _options.MaxBodyBytes);
            return StatusCodes.Status413PayloadTooLarge;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _options.MaxBodyBytes;
        }

        if (!_slots.Wait(0))
        {
            context.Response.Headers.RetryAfter = "1";
            return StatusCodes.Status503ServiceUnavailable;
        }

        try
        {
            return await ReceiveAsync(context).ConfigureAwait(false);
        }
        finally
        {
            _slots.Release();
        }
    }

    private async Task<int> ReceiveAsync(HttpContext context)
    {
        byte[]? body;
        int length;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, _stopping.Token))
        {
            deadline.CancelAfter(_options.BodyTimeout);
            try
            {
                (body, length) = await ReadBodyAsync(context.Request.Body, _options.MaxBodyBytes, deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                Log.TooSlow(_logger, _options.BodyTimeout);
                context.Abort();
                return StatusCodes.Status408RequestTimeout;
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex)
            {
                // Kestrel's own limits (size, minimum data rate, malformed chunking).
                Log.BadBody(_logger, ex.StatusCode);
                return ex.StatusCode;
            }
            catch (IOException)
            {
                // The sender went away mid-body.
                return StatusCodes.Status400BadRequest;
            }
        }

        if (body is null)
        {
            Log.TooLarge(_logger, _options.MaxBodyBytes);
            return StatusCodes.Status413PayloadTooLarge;
        }

        FetchResponse update;
        try
        {
            update = FetchResponse.Parse(body.AsSpan(0, length));
        }
        catch (MjProtocolException)
        {
            Log.NotAnUpdate(_logger);
            return StatusCodes.Status400BadRequest;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }

        if (string.IsNullOrEmpty(update.TaskId))
        {
            Log.NotAnUpdate(_logger);
            return StatusCodes.Status400BadRequest;
        }

        ServerTelemetry.WebhookTask(update.TaskId, update.Status);
        using var taskScope = ServerTelemetry.TaskScope(_logger, update.TaskId);
        _client.ReportUpdate(update);
        try
        {
            Updated?.Invoke(new WebhookUpdate(update, ParseIntent(context.Request.Query)));
        }
#pragma warning disable CA1031 // A failing subscriber must not take the receiver down; the provider may retry (idempotent).
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.SubscriberFailed(_logger, update.TaskId, ex.GetType().Name);
            return StatusCodes.Status500InternalServerError;
        }

        Interlocked.Increment(ref _accepted);
        return StatusCodes.Status200OK;
    }

    /// <summary>Reads at most <paramref name="max"/> bytes into a pooled buffer; null when the body is larger.</summary>
    private static async Task<(byte[]? Buffer, int Length)> ReadBodyAsync(Stream body, long max, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > max)
                    {
                        ArrayPool<byte>.Shared.Return(buffer);
                        return (null, 0);
                    }

                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, max + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await body.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
                if (read == 0)
                {
                    return (buffer, length);
                }

                length += read;
                if (length > max)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    return (null, 0);
                }
            }
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
    }

    private bool SecretMatches(string? given)
    {
        // Hash both sides so the comparison is constant-time regardless of the given length.
        Span<byte> actual = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(given ?? string.Empty), actual);
        return given is not null && CryptographicOperations.FixedTimeEquals(_secretHash, actual);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Webhook receiver listening at {Url}")]
        public static partial void Listening(ILogger logger, Uri url);

        [LoggerMessage(2, LogLevel.Warning, "Webhook rejected: wrong or missing x-webhook-secret.")]
        public static partial void WrongSecret(ILogger logger);

        [LoggerMessage(3, LogLevel.Warning, "Webhook rejected: body larger than {MaxBytes} bytes.")]
        public static partial void TooLarge(ILogger logger, long maxBytes);

        [LoggerMessage(4, LogLevel.Warning, "Webhook dropped: body did not arrive within {Timeout}.")]
        public static partial void TooSlow(ILogger logger, TimeSpan timeout);

        [LoggerMessage(5, LogLevel.Warning, "Webhook rejected: bad body (HTTP {Status}).")]
        public static partial void BadBody(ILogger logger, int status);

        [LoggerMessage(6, LogLevel.Warning, "Webhook rejected: not a /fetch-shaped JSON object with a task_id.")]
        public static partial void NotAnUpdate(ILogger logger);

        [LoggerMessage(7, LogLevel.Warning, "Webhook update for task {TaskId} accepted but a subscriber failed: {Error}")]
        public static partial void SubscriberFailed(ILogger logger, string taskId, string error);
    }

    /// <summary>Routes Kestrel's own log lines (Warning and above) to the receiver's logger: never to the console.</summary>
    private sealed class ForwardingLoggerProvider(ILogger target) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => target;

        public void Dispose()
        {
        }
    }
}
