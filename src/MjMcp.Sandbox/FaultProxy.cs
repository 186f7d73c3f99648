using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MjMcp.Sandbox;

/// <summary>What a <see cref="FaultProxy"/> injects, decided by a seeded random sequence so a run is repeatable.</summary>
public sealed class FaultProxyOptions
{
    /// <summary>The seed of the fault sequence (one draw per submit request).</summary>
    public int Seed { get; set; } = 1;

    /// <summary>0 picks a free port; the proxy always binds 127.0.0.1.</summary>
    public int Port { get; set; }

    /// <summary>
    /// Rate (0..1) of submits sent upstream (so the provider CREATED the task) whose client connection is then aborted
    /// with no response.
    /// </summary>
    public double DropAfterUpstreamRate { get; set; }

    /// <summary>Rate (0..1) of submits sent upstream whose client then gets a 500 with a provider-style body instead of the answer.</summary>
    public double FailAfterUpstreamRate { get; set; }

    /// <summary>Rate (0..1) of submits answered 503 (Retry-After: 1) without contacting upstream: nothing was sent.</summary>
    public double RefuseBeforeRate { get; set; }

    /// <summary>
    /// Which requests are submits (faults apply only to them), from the request's path. Default: every path but
    /// /fetch, /fetch-many, /account and /images/…
    /// </summary>
    public Func<string, bool> IsSubmitPath { get; set; } = DefaultIsSubmitPath;

    /// <summary>The time the upstream call may take.</summary>
    public TimeSpan UpstreamTimeout { get; set; } = TimeSpan.FromSeconds(100);

    /// <summary>The default <see cref="IsSubmitPath"/>: anything but /fetch, /fetch-many, /account and /images/…</summary>
    public static bool DefaultIsSubmitPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var p = path.TrimEnd('/');
        return p is not ("/fetch" or "/fetch-many" or "/account") && !p.StartsWith("/images/", StringComparison.Ordinal) && p != "/images";
    }
}

/// <summary>
/// A loopback HTTP proxy in front of a provider (or a sandbox) for faults that happen after the effect: it forwards
/// every request (method, path, query, headers including Authorization, body) to the upstream and returns its answer,
/// except that submits may, per <see cref="FaultProxyOptions"/>, be dropped or failed after the upstream accepted them,
/// or refused before anything is sent. Thread-safe.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private static readonly HashSet<string> HopByHop = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "Host",
    };

    private readonly WebApplication _app;
    private readonly Uri _upstream;
    private readonly FaultProxyOptions _options;
    private readonly HttpClient _http;
    private readonly Random _random;
    private readonly object _randomLock = new();
    private int _forwarded;
    private int _dropped;
    private int _failed;
    private int _refused;

    private FaultProxy(WebApplication app, Uri upstream, FaultProxyOptions options)
    {
        _app = app;
        _upstream = upstream;
        _options = options;
        _random = new Random(options.Seed);
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, UseProxy = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = options.UpstreamTimeout,
        };
        BaseUrl = null!;
    }

    /// <summary>Where the proxy listens, with a trailing slash.</summary>
    public Uri BaseUrl { get; private set; }

    /// <summary>Requests forwarded and answered with the upstream's answer unchanged (submits and every other request).</summary>
    public int Forwarded => Volatile.Read(ref _forwarded);

    /// <summary>Submits sent upstream whose client connection was then aborted with no response.</summary>
    public int DroppedAfterUpstream => Volatile.Read(ref _dropped);

    /// <summary>Submits sent upstream whose client then got a 500 instead of the answer.</summary>
    public int FailedAfterUpstream => Volatile.Read(ref _failed);

    /// <summary>Submits answered 503 without contacting upstream.</summary>
    public int RefusedBeforeUpstream => Volatile.Read(ref _refused);

    /// <summary>Starts a proxy on 127.0.0.1 in front of <paramref name="upstream"/> (its path, if any, prefixes every request's).</summary>
    public static async Task<FaultProxy> StartAsync(Uri upstream, FaultProxyOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        ArgumentNullException.ThrowIfNull(options);
        if (!upstream.IsAbsoluteUri || (upstream.Scheme != Uri.UriSchemeHttp && upstream.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException("The upstream must be an absolute http(s) URL.", nameof(upstream));
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, options.Port);
            k.Limits.MaxRequestBodySize = 64L << 20;
        });
        var app = builder.Build();
        var baseUpstream = upstream.AbsoluteUri.EndsWith('/') ? upstream : new Uri(upstream.AbsoluteUri + "/");
        var proxy = new FaultProxy(app, baseUpstream, options);
        app.Run(proxy.HandleAsync);
        await app.StartAsync(ct).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        proxy.BaseUrl = new Uri(address.TrimEnd('/') + "/");
        return proxy;
    }

    /// <summary>Stops the proxy (requests in flight get up to 2 s).</summary>
    public async ValueTask DisposeAsync()
    {
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(grace.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _http.Dispose();
    }

    private enum Fault
    {
        None,
        Refuse,
        Drop,
        Fail,
    }

    private Fault Decide(string path)
    {
        if (!_options.IsSubmitPath(path))
        {
            return Fault.None;
        }

        double roll;
        lock (_randomLock)
        {
            roll = _random.NextDouble();
        }

        return roll < _options.RefuseBeforeRate ? Fault.Refuse
            : roll < _options.RefuseBeforeRate + _options.DropAfterUpstreamRate ? Fault.Drop
            : roll < _options.RefuseBeforeRate + _options.DropAfterUpstreamRate + _options.FailAfterUpstreamRate ? Fault.Fail
            : Fault.None;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var fault = Decide(request.Path.Value ?? "/");
        if (fault == Fault.Refuse)
        {
            Interlocked.Increment(ref _refused);
            context.Response.Headers.RetryAfter = "1";
            await WriteErrorAsync(context, 503, "Service unavailable (injected before the provider): nothing was sent; retry after 1 second.").ConfigureAwait(false);
            return;
        }

        var target = new Uri(_upstream, (request.Path.Value ?? "/").TrimStart('/') + request.QueryString.Value);
        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), target);
        if (request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0 || HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method))
        {
            using var buffer = new MemoryStream();
            await request.Body.CopyToAsync(buffer, context.RequestAborted).ConfigureAwait(false);
            forward.Content = new ByteArrayContent(buffer.ToArray());
        }

        foreach (var (name, values) in request.Headers)
        {
            if (HopByHop.Contains(name) || name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (!forward.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values))
            {
                forward.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        HttpResponseMessage response;
        try
        {
            // Not tied to the client: the upstream call completes even if the client goes away, like a real provider's would.
            response = await _http.SendAsync(forward, HttpCompletionOption.ResponseContentRead, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await WriteErrorAsync(context, 502, "Bad gateway: the upstream could not be reached (" + ex.GetType().Name + ").").ConfigureAwait(false);
            return;
        }

        using (response)
        {
            switch (fault)
            {
                case Fault.Drop:
                    Interlocked.Increment(ref _dropped);
                    context.Abort();
                    return;
                case Fault.Fail:
                    Interlocked.Increment(ref _failed);
                    await WriteErrorAsync(context, 500, "Internal server error (injected after the provider answered).").ConfigureAwait(false);
                    return;
            }

            Interlocked.Increment(ref _forwarded);
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var header in response.Headers.Concat(response.Content.Headers))
            {
                if (HopByHop.Contains(header.Key) || header.Key.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }

                context.Response.Headers[header.Key] = header.Value.ToArray();
            }

            var body = await response.Content.ReadAsByteArrayAsync(context.RequestAborted).ConfigureAwait(false);
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static async Task WriteErrorAsync(HttpContext context, int status, string message)
    {
        var body = SandboxServer.Error(message);
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.ContentLength = body.Length;
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }
}
