using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;

namespace MjMcp.Server;

/// <summary>
/// The server's log lines on stderr (stdout carries JSON-RPC only): the standard <see cref="ConsoleLoggerProvider"/>
/// (its default, simple format, every level on stderr), made when the first line is written rather than when the host
/// starts. Written by hand around the served provider instead of <c>AddConsole</c>, for mjmcp's cold start (bench e):
/// <list type="bullet">
/// <item>AddConsole's options pipeline (its options, three formatters' option monitors, factories, caches and change-token
/// sources) is some sixty generic types that NativeAOT builds at run time while the host starts;</item>
/// <item>the provider starts its queue thread when it is made, and starting a thread spins the starting one until the
/// new one runs: on a busy 2-core machine a wait before initialize is answered. No line is logged before that answer
/// at the default levels, so made on first use the thread starts after the handshake.</item>
/// </list>
/// Filters still see it as the console provider (alias <c>Console</c>: <c>Logging:Console:LogLevel</c>). When the
/// configuration sets anything else under <c>Logging:Console</c> (<c>FormatterName</c>, <c>FormatterOptions</c>…), the
/// server uses the standard <c>AddConsole</c> instead, which reads those settings (<see cref="FormatterConfigured"/>).
/// </summary>
[ProviderAlias("Console")]
internal sealed class StderrLoggerProvider : ILoggerProvider, ISupportExternalScope
{
    private readonly Lock _lock = new();
    private ConsoleLoggerProvider? _console;
    private IExternalScopeProvider? _scopes;
    private bool _disposed;

    public ILogger CreateLogger(string categoryName) => new DeferredLogger(this, categoryName);

    /// <summary>
    /// Whether <paramref name="configuration"/> sets a console logger setting this provider does not read: anything
    /// under <c>Logging:Console</c> but its <c>LogLevel</c> section (levels are applied by the logging filters).
    /// </summary>
    public static bool FormatterConfigured(IConfiguration configuration) =>
        configuration.GetSection("Logging:Console").GetChildren()
            .Any(setting => !string.Equals(setting.Key, "LogLevel", StringComparison.OrdinalIgnoreCase));

    public void SetScopeProvider(IExternalScopeProvider scopeProvider)
    {
        lock (_lock)
        {
            _scopes = scopeProvider;
            _console?.SetScopeProvider(scopeProvider);
        }
    }

    /// <summary>The console provider, made on first use; null once disposed (lines after shutdown are dropped).</summary>
    private ConsoleLoggerProvider? ConsoleProvider()
    {
        if (Volatile.Read(ref _console) is { } made)
        {
            return made;
        }

        lock (_lock)
        {
            if (_console is null && !_disposed)
            {
                var console = new ConsoleLoggerProvider(new FixedOptions());
                if (_scopes is not null)
                {
                    console.SetScopeProvider(_scopes);
                }

                Volatile.Write(ref _console, console);
            }

            return _console;
        }
    }

    /// <summary>Flushes and stops the console provider's queue, if it was ever made.</summary>
    public void Dispose()
    {
        ConsoleLoggerProvider? console;
        lock (_lock)
        {
            _disposed = true;
            console = _console;
        }

        console?.Dispose();
    }

    /// <summary>A category's logger; it finds its console logger when it first writes.</summary>
    private sealed class DeferredLogger(StderrLoggerProvider provider, string category) : ILogger
    {
        private ILogger? _logger;

        private ILogger? Logger => Volatile.Read(ref _logger) ?? Make();

        // The console logger's own rule: every level but None (the factory's filters decide before this is asked).
        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => Logger?.BeginScope(state);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Logger?.Log(logLevel, eventId, state, exception, formatter);

        private ILogger? Make()
        {
            var logger = provider.ConsoleProvider()?.CreateLogger(category);
            if (logger is not null)
            {
                Interlocked.CompareExchange(ref _logger, logger, null);
            }

            return _logger;
        }
    }

    /// <summary>The console logger's settings, fixed: every level on stderr.</summary>
    private sealed class FixedOptions : IOptionsMonitor<ConsoleLoggerOptions>
    {
        public ConsoleLoggerOptions CurrentValue { get; } = new() { LogToStandardErrorThreshold = LogLevel.Trace };

        public ConsoleLoggerOptions Get(string? name) => CurrentValue;

        public IDisposable? OnChange(Action<ConsoleLoggerOptions, string?> listener) => null;
    }
}
