using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MjMcp;

/// <summary>DI registration of <see cref="MidjourneyClient"/>.</summary>
public static class MidjourneyServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="MidjourneyClient"/> as a singleton over a named HttpClient from IHttpClientFactory
    /// (<see cref="MidjourneyClient.HttpClientName"/>), with <see cref="MidjourneyOptions"/> from the options system.
    /// The client has the provider resilience pipeline (<see cref="ProviderResilience"/>); the HttpClient builder is
    /// returned for further configuration.
    /// </summary>
    public static IHttpClientBuilder AddMidjourneyClient(this IServiceCollection services, Action<MidjourneyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<MidjourneyOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.AddSingleton(sp => new MidjourneyClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(MidjourneyClient.HttpClientName),
            sp.GetRequiredService<IOptions<MidjourneyOptions>>().Value,
            sp.GetService<ILogger<MidjourneyClient>>(),
            sp.GetService<TimeProvider>()));
        return services.AddHttpClient(MidjourneyClient.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan)
            .AddProviderResilience();
    }
}
