using ModelContextProtocol.Server;
using MjMcp.Server;

#pragma warning disable IDE0130 // Builder extensions live in the builder's namespace, as the MCP SDK's own do.
namespace Microsoft.Extensions.DependencyInjection;
#pragma warning restore IDE0130

/// <summary>The MCP stdio transport of MjMcp servers.</summary>
public static class MjMcpStdioExtensions
{
    /// <summary>
    /// Serves MCP over stdin/stdout like <c>WithStdioServerTransport()</c>, but when stdin ends (<c>cat requests.jsonl | server</c>,
    /// or a client that closes its pipe right after its last request) every request already read is answered before the
    /// server exits, within the longest tool wait plus a margin.
    /// </summary>
    public static IMcpServerBuilder WithStdioTransport(this IMcpServerBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var drain = new RequestDrain();
        builder.Services.AddSingleton<MjMcp.Server.StdioTransportMarker>();
        var maxWait = TimeSpan.FromSeconds(MjMcpServerOptions.MaxWaitSeconds + 15);
        return builder
            .WithMessageFilters(filters => filters.AddIncomingFilter(drain.Filter))
            .WithStreamServerTransport(new DrainingInput(Console.OpenStandardInput(), drain, maxWait), Console.OpenStandardOutput());
    }
}

/// <summary>Counts incoming messages and those still being handled (a request's handler returns after its answer is sent).</summary>
internal sealed class RequestDrain
{
    private long _seen;
    private int _inFlight;

    public McpMessageFilter Filter => next => async (context, cancellationToken) =>
    {
        Interlocked.Increment(ref _seen);
        Interlocked.Increment(ref _inFlight);
        try
        {
            await next(context, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    };

    /// <summary>Waits until every one of <paramref name="messagesRead"/> messages has been seen and handled, or the bound passes.</summary>
    public async Task WaitIdleAsync(long messagesRead, TimeSpan bound, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + bound;
        while (DateTime.UtcNow < deadline && (Interlocked.Read(ref _seen) < messagesRead || Volatile.Read(ref _inFlight) > 0))
        {
            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>stdin, except that its end is reported only once the requests read from it are answered (see <see cref="RequestDrain"/>).</summary>
internal sealed class DrainingInput(Stream inner, RequestDrain drain, TimeSpan bound) : Stream
{
    private long _messages;
    private bool _lineHasContent;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            if (_lineHasContent)
            {
                _messages++;
                _lineHasContent = false;
            }

            await drain.WaitIdleAsync(_messages, bound, cancellationToken).ConfigureAwait(false);
            return 0;
        }

        // One JSON-RPC message per non-empty line.
        foreach (var b in buffer.Span[..read])
        {
            if (b == (byte)'\n')
            {
                if (_lineHasContent)
                {
                    _messages++;
                }

                _lineHasContent = false;
            }
            else if (b is not ((byte)' ' or (byte)'\r' or (byte)'\t'))
            {
                _lineHasContent = true;
            }
        }

        return read;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, CancellationToken.None).GetAwaiter().GetResult();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
