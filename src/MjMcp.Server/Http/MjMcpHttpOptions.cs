using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace MjMcp.Server.Http;

/// <summary>
/// The settings of MCP over Streamable HTTP: the clients' bearer tokens, stored hashed (<c>MjMcp:Http:Tokens:&lt;name&gt;</c>
/// = <c>sha256:&lt;hex&gt;</c>, or MJMCP_HTTP_TOKENS=<c>name=sha256:hex,…</c>), and whether every client sees every task
/// (<c>MjMcp:Http:SharedScope</c>, MJMCP_HTTP_SHARED_SCOPE). The token itself is never stored, logged or shown again:
/// <see cref="NewToken"/> makes one and its hash.
/// </summary>
public sealed partial class MjMcpHttpOptions
{
    /// <summary>The configuration section (appsettings.json) the settings are read from.</summary>
    public const string Section = "MjMcp:Http";

    /// <summary>The environment variable with the tokens: <c>name=sha256:hex</c> pairs, comma-separated (wins over the configuration).</summary>
    public const string TokensVariable = "MJMCP_HTTP_TOKENS";

    /// <summary>The environment variable that turns the shared scope on (true/false; wins over the configuration).</summary>
    public const string SharedScopeVariable = "MJMCP_HTTP_SHARED_SCOPE";

    private const string HashPrefix = "sha256:";

    /// <summary>The clients' token hashes by client name (the name owns the tasks its token makes).</summary>
    public IDictionary<string, string> Tokens { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>True: every client sees (and may continue from) every task. False (default): a task is its maker's alone.</summary>
    public bool SharedScope { get; set; }

    /// <summary>Reads <c>MjMcp:Http</c> from <paramref name="configuration"/>, overridden by MJMCP_HTTP_TOKENS and MJMCP_HTTP_SHARED_SCOPE.</summary>
    public static MjMcpHttpOptions Load(IConfiguration? configuration)
    {
        var options = new MjMcpHttpOptions();
        var section = configuration?.GetSection(Section);
        foreach (var token in section?.GetSection(nameof(Tokens)).GetChildren() ?? [])
        {
            if (token.Value is { Length: > 0 } hash)
            {
                options.Tokens[token.Key] = hash.Trim();
            }
        }

        var shared = section?[nameof(SharedScope)];
        var sharedOrigin = $"{Section}:{nameof(SharedScope)} in the configuration";
        if (Environment.GetEnvironmentVariable(TokensVariable) is { Length: > 0 } list)
        {
            options.Tokens.Clear();
            var entries = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (var i = 0; i < entries.Length; i++)
            {
                var pair = entries[i];
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    // The entry is not echoed: it may be a token pasted by mistake.
                    throw Invalid(nameof(Tokens), $"Entry {(i + 1).ToString(CultureInfo.InvariantCulture)} of {TokensVariable} is not name=sha256:<hex>: give pairs like ci=sha256:<64 hex digits>, comma-separated (mjmcp token new NAME prints one).");
                }

                options.Tokens[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
            }
        }

        if (Environment.GetEnvironmentVariable(SharedScopeVariable) is { Length: > 0 } variable)
        {
            shared = variable;
            sharedOrigin = SharedScopeVariable;
        }

        if (shared is { Length: > 0 })
        {
            options.SharedScope = bool.TryParse(shared, out var flag)
                ? flag
                : throw Invalid(nameof(SharedScope), $"{nameof(SharedScope)} '{Cut(shared)}' (from {sharedOrigin}) is not true or false: set it to true (every client sees every task) or false (the default: each client sees its own).");
        }

        options.Validate();
        return options;
    }

    /// <summary>Checks every token entry: a name of letters, digits, '.', '_' or '-', and a hash <c>sha256:</c> + 64 hex digits.</summary>
    public void Validate()
    {
        foreach (var (name, hash) in Tokens)
        {
            if (!NamePattern().IsMatch(name))
            {
                throw Invalid(nameof(Tokens), $"The token name '{Cut(name)}' ({TokensVariable} or {Section}:Tokens) must be 1-64 letters, digits, '.', '_' or '-'.");
            }

            if (ParseHash(hash) is null)
            {
                // Never echo the value: it may be a token pasted by mistake.
                throw Invalid(nameof(Tokens), $"The token of '{name}' ({TokensVariable} or {Section}:Tokens:{name}) is not 'sha256:' followed by 64 hex digits. Store the hash, never the token: mjmcp token new {name} prints a token and the line to configure.");
            }
        }
    }

    /// <summary>The hashes by name, as bytes (for constant-time comparison).</summary>
    internal IReadOnlyList<(string Name, byte[] Hash)> Hashes() => Tokens.Select(t => (t.Key, ParseHash(t.Value)!)).ToList();

    /// <summary>The stored form of a token: <c>sha256:</c> and the lowercase hex of the SHA-256 of its UTF-8 bytes.</summary>
    public static string Hash(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return HashPrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
    }

    /// <summary>A fresh random token (256 bits, URL-safe) and its stored form.</summary>
    public static (string Token, string Hash) NewToken()
    {
        var token = "mjmcp_" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return (token, Hash(token));
    }

    /// <summary>Whether <paramref name="name"/> can name a token.</summary>
    public static bool IsValidName(string name) => name is not null && NamePattern().IsMatch(name);

    private static byte[]? ParseHash(string value)
    {
        if (!value.StartsWith(HashPrefix, StringComparison.OrdinalIgnoreCase) || value.Length != HashPrefix.Length + 64)
        {
            return null;
        }

        try
        {
            return Convert.FromHexString(value.AsSpan(HashPrefix.Length));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private static OptionsValidationException Invalid(string setting, string message) => new(setting, typeof(MjMcpHttpOptions), [message]);

    private static string Cut(string text) => text.Length <= 24 ? text : string.Concat(text.AsSpan(0, 21), "...");

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$", RegexOptions.CultureInvariant)]
    private static partial Regex NamePattern();

    /// <summary>For messages.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Tokens.Count} token(s), shared scope {(SharedScope ? "on" : "off")}");
}
