using System.Text;

namespace MjMcp;

/// <summary>
/// Where the provider should POST a task's updates (<c>webhook_url</c>) and the secret it echoes back in the
/// <c>x-webhook-secret</c> header (<c>webhook_secret</c>). Any receiver can supply one (see
/// <see cref="MjClient.UseWebhook"/>). <see cref="ToString"/> prints <c>***</c> for the secret.
/// </summary>
/// <param name="Url">The absolute http(s) URL the provider POSTs to.</param>
/// <param name="Secret">The shared secret. Never logged.</param>
public sealed record WebhookTarget(Uri Url, string Secret)
{
    /// <summary>The absolute http(s) URL the provider POSTs to.</summary>
    public Uri Url { get; init; } = Url ?? throw new ArgumentNullException(nameof(Url));

    /// <summary>The shared secret the provider sends back in <c>x-webhook-secret</c>. Never logged.</summary>
    public string Secret { get; init; } = !string.IsNullOrEmpty(Secret) ? Secret : throw new ArgumentException("A webhook secret must not be empty.", nameof(Secret));

    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append("Url = ").Append(Url).Append(", Secret = ***");
        return true;
    }
}
