using System.Net;
using Microsoft.Extensions.DependencyInjection;
using System.Net.Sockets;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace MjMcp;

/// <summary>
/// The provider's resilience pipeline (Microsoft.Extensions.Http.Resilience): reads (/fetch, /fetch-many,
/// GET /account) are retried with jittered exponential backoff, honouring Retry-After, behind a circuit
/// breaker and a per-attempt time-out. A submit is retried only when it provably created no task: the
/// connection was refused before anything was sent, or the provider answered 429/503. Never after an
/// ambiguous failure (time-out, dropped connection, 500): a second submit could be charged twice.
/// </summary>
public static class ProviderResilience
{
    /// <summary>Adds the pipeline to the provider's HttpClient.</summary>
    public static IHttpClientBuilder AddProviderResilience(this IHttpClientBuilder builder, TimeSpan? attemptTimeout = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.AddResilienceHandler("mjmcp-provider", pipeline =>
        {
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = 4,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(300),
                MaxDelay = TimeSpan.FromSeconds(10),
                ShouldRetryAfterHeader = true,
                ShouldHandle = args => ValueTask.FromResult(ShouldRetry(args.Context.GetRequestMessage(), args.Outcome)),
            });
            pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = 0.8,
                MinimumThroughput = 20,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(5),
            });
            pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Timeout = attemptTimeout ?? TimeSpan.FromSeconds(30) });
        });
        return builder;
    }

    /// <summary>Whether a request may be sent again after this outcome.</summary>
    public static bool ShouldRetry(HttpRequestMessage? request, Outcome<HttpResponseMessage> outcome)
    {
        var read = IsRead(request);
        if (outcome.Exception is { } exception)
        {
            var refused = exception is HttpRequestException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionRefused } };
            return refused || (read && exception is HttpRequestException or TimeoutRejectedException);
        }

        var status = outcome.Result?.StatusCode;
        return status is HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable ||
            (read && status is HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout or HttpStatusCode.RequestTimeout);
    }

    /// <summary>GET, /fetch and /fetch-many only read: repeating them is harmless. Unmarked POSTs count as submits.</summary>
    public static bool IsRead(HttpRequestMessage? request)
    {
        if (request is null)
        {
            return false;
        }

        if (request.Method == HttpMethod.Get)
        {
            return true;
        }

        // The client marks every request it sends (the pipeline does not know the spec's paths).
        return request.Options.TryGetValue(IsReadOption, out var isRead) && isRead;
    }

    /// <summary>Set by <see cref="MjClient"/> on every request: true for reads (fetch, fetch-many, account), false for submits.</summary>
    public static HttpRequestOptionsKey<bool> IsReadOption { get; } = new("MjMcp.IsRead");

    internal static bool IsResilienceFailure(Exception exception) => exception is TimeoutRejectedException or BrokenCircuitException;
}
