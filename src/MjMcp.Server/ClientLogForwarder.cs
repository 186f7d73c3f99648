using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;

namespace MjMcp.Server;

/// <summary>
/// Sends the server's own log lines (categories MjMcp.*: provider errors, fetch retries, journal and webhook
/// warnings) to the MCP client as notifications/message, through the SDK's
/// <see cref="McpServer.AsClientLoggerProvider"/>, which sends only at or above the level the client set with
/// logging/setLevel (and nothing before it set one). The loggers exist before the MCP session does, so this provider
/// forwards to the session's client logger once the first message has shown which server that is. Only MjMcp
/// categories are forwarded: the SDK's own logging about sending a notification must not send another.
/// </summary>
internal sealed class ClientLogForwarder : ILoggerProvider
{
    /// <summary>The server (session) of the message being handled, for <see cref="PerRequest"/>.</summary>
    private static readonly AsyncLocal<McpServer?> Current = new();

    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<McpServer, ILoggerProvider> _perServer = [];
    private ILoggerProvider? _target;

    /// <summary>
    /// Over HTTP (several clients, one session each): a line goes only to the client whose request wrote it, never to
    /// the first session's client; lines written outside a request (webhooks, start-up) go to no client.
    /// </summary>
    public bool PerRequest { get; set; }

    /// <summary>Starts forwarding to <paramref name="server"/>'s client (the first server seen wins; stdio has one).</summary>
    public void Attach(McpServer server)
    {
        // Set in the message filter's own context: it flows into the handling of this message only.
        Current.Value = server;
        if (!PerRequest && Volatile.Read(ref _target) is null)
        {
            // MCP9005: logging is deprecated from protocol revision 2026-07-28 on, but clients on 2025-11-25 (most of
            // them today) set their level with logging/setLevel and read notifications/message; the SDK's client
            // logger serves both revisions (a modern request carries its level in _meta).
#pragma warning disable MCP9005
            Interlocked.CompareExchange(ref _target, server.AsClientLoggerProvider(), null);
#pragma warning restore MCP9005
        }
    }

    /// <inheritdoc/>
    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith("MjMcp", StringComparison.Ordinal) ? new Forwarding(this, categoryName) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <inheritdoc/>
    public void Dispose() => Interlocked.Exchange(ref _target, null)?.Dispose();

    private sealed class Forwarding(ClientLogForwarder owner, string category) : ILogger
    {
        private ILogger? _logger;

        private ILogger? Target
        {
            get
            {
                if (owner.PerRequest)
                {
#pragma warning disable MCP9005 // see Attach
                    return Current.Value is { } server ? owner._perServer.GetValue(server, static s => s.AsClientLoggerProvider()).CreateLogger(category) : null;
#pragma warning restore MCP9005
                }

                if (_logger is null && Volatile.Read(ref owner._target) is { } provider)
                {
                    _logger = provider.CreateLogger(category);
                }

                return _logger;
            }
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => Target?.IsEnabled(logLevel) ?? false;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Target?.Log(logLevel, eventId, state, exception, formatter);
    }
}
