using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MjMcp;

/// <summary>
/// DI registration of a client built on <see cref="MjClient"/>. Generated code calls this from its
/// <c>AddMidjourneyClient</c> extension; the MCP server calls it with the rule table it serves.
/// </summary>
public static class MjClientServiceCollectionExtensions
{
    /// <summary>
    /// Registers <typeparamref name="TClient"/> (and <see cref="MjClient"/>, resolving to the same instance) as a
    /// singleton over a named HttpClient from IHttpClientFactory (<see cref="MjClient.HttpClientName"/>), with
    /// <see cref="MidjourneyOptions"/> from the options system. The HttpClient has the provider resilience pipeline
    /// (<see cref="ProviderResilience"/>); its builder is returned for further configuration.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="create">Makes the client from its HttpClient, options and the service provider (for a logger, a clock).</param>
    /// <param name="configure">Configures the options (key, base URL, polling).</param>
    public static IHttpClientBuilder AddMjClient<TClient>(this IServiceCollection services, Func<HttpClient, MidjourneyOptions, IServiceProvider, TClient> create, Action<MidjourneyOptions>? configure = null)
        where TClient : MjClient
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(create);
        var options = services.AddOptions<MidjourneyOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddSingleton(sp => create(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(MjClient.HttpClientName),
            sp.GetRequiredService<IOptions<MidjourneyOptions>>().Value,
            sp));
        if (typeof(TClient) != typeof(MjClient))
        {
            services.TryAddSingleton<MjClient>(sp => sp.GetRequiredService<TClient>());
        }

        return services.AddHttpClient(MjClient.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderResilience();
    }
}
