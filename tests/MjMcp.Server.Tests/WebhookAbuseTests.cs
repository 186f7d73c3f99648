using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using MjMcp.Server;
using Xunit.Abstractions;

namespace MjMcp.Server.Tests;

/// <summary>Memory is measured for the whole test process: these tests run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(WebhookAbuseCollection), DisableParallelization = true)]
public sealed class WebhookAbuseCollection
{
}

/// <summary>
/// The webhook receiver against hostile or broken senders: huge chunked bodies (with and without the secret),
/// stalled bodies and headers, many senders at once, bad bodies, paths and methods, the intent parameter, shutdown.
/// </summary>
[Collection(nameof(WebhookAbuseCollection))]
public sealed class WebhookAbuseTests(ITestOutputHelper output)
{
    private const string TheSecret = "abuse-test-secret";
    private const long Huge = 200L << 20;
    private const long MemoryBound = 50L << 20;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private static MidjourneyClient Client() => new(new HttpClient(), new MidjourneyOptions { BaseUrl = new Uri("http://127.0.0.1:9/"), ApiKey = "abuse-key" });

    private static string Update(string taskId) =>
        $$"""{"task_id":"{{taskId}}","task_type":"imagine","status":"processing","percentage":"40"}""";

    [Fact]
    public async Task AHugeChunkedBodyWithTheRightSecretIsCutOffAt413AndMemoryStaysBounded()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Client(), new WebhookReceiverOptions { Secret = TheSecret });
        var (status, sent, growth) = await MeasureAsync(() => SendChunkedAsync(receiver.Url, TheSecret, Huge));
        output.WriteLine($"status {status?.ToString() ?? "connection closed"}, {sent >> 20} MiB sent before the receiver stopped it, peak managed growth {growth >> 20} MiB");
        Assert.True(status is null or 413, $"status {status}");
        Assert.True(growth < MemoryBound, $"the process grew by {growth >> 20} MiB");
        Assert.Equal(0, receiver.Accepted);
        Assert.Equal(1, receiver.Rejected);
    }

    [Fact]
    public async Task AHugeChunkedBodyWithTheWrongSecretGets401UnreadAndNoSecretIsLogged()
    {
        var logger = new CapturingLogger();
        await using var receiver = await WebhookReceiver.StartAsync(Client(), new WebhookReceiverOptions { Secret = TheSecret }, logger);
        var (status, sent, growth) = await MeasureAsync(() => SendChunkedAsync(receiver.Url, "the-wrong-secret", Huge));
        output.WriteLine($"status {status?.ToString() ?? "connection closed"}, {sent >> 20} MiB sent, peak managed growth {growth >> 20} MiB");
        Assert.Equal(401, status);
        Assert.True(growth < MemoryBound, $"the process grew by {growth >> 20} MiB");
        Assert.True(sent < Huge, "the receiver read the whole body");
        Assert.Equal(0, receiver.Accepted);
        Assert.Equal(1, receiver.Rejected);
        Assert.Contains(logger.Lines, line => line.Contains("x-webhook-secret", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Lines, line => line.Contains(TheSecret, StringComparison.Ordinal) || line.Contains("the-wrong-secret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StalledBodiesDoNotHoldUpOtherWebhooksAndAreDroppedAfterTheBodyTimeout()
    {
        var mj = Client();
        await using var receiver = await WebhookReceiver.StartAsync(mj, new WebhookReceiverOptions { Secret = TheSecret, BodyTimeout = TimeSpan.FromSeconds(2) });
        var stalled = new List<TcpClient>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var tcp = new TcpClient();
                stalled.Add(tcp);
                await tcp.ConnectAsync(IPAddress.Loopback, receiver.Url.Port);
                var head = $"POST {receiver.Url.AbsolutePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-webhook-secret: {TheSecret}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"task_id\":";
                await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes(head));
            }

            await Until(() => receiver.InFlight == 10, "all ten stalled bodies are being read");

            // Another sender is served at once, while all ten are stalled.
            using var http = new HttpClient();
            using var prompt = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Assert.Equal(HttpStatusCode.OK, await PostAsync(http, receiver.Url, TheSecret, Update("while-stalled"), prompt.Token));
            Assert.Equal(1, receiver.Accepted);

            // Each stalled request is dropped (connection closed) once its body time-out passes.
            using var dropped = new CancellationTokenSource(Deadline);
            foreach (var tcp in stalled)
            {
                Assert.True(await ClosedAsync(tcp.GetStream(), dropped.Token), "a stalled request is still open");
            }

            await Until(() => receiver.InFlight == 0, "the stalled requests left the handler");
            Assert.Equal(10, receiver.Rejected);
            Assert.Equal(1, receiver.Accepted);
        }
        finally
        {
            stalled.ForEach(t => t.Dispose());
        }
    }

    [Fact]
    public async Task StalledHeadersAreDroppedAfterTheHeadersTimeout()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Client(), new WebhookReceiverOptions { Secret = TheSecret, HeadersTimeout = TimeSpan.FromSeconds(1) });
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, receiver.Url.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"POST {receiver.Url.AbsolutePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-webh"));
        using var dropped = new CancellationTokenSource(Deadline);
        Assert.True(await ClosedAsync(tcp.GetStream(), dropped.Token), "a request with stalled headers is still open");
        Assert.Equal(0, receiver.Accepted);
    }

    [Fact]
    public async Task FiftyConcurrentWebhooksAreAllAccepted()
    {
        var mj = Client();
        await using var receiver = await WebhookReceiver.StartAsync(mj, new WebhookReceiverOptions { Secret = TheSecret });
        var seen = new ConcurrentDictionary<string, int>();
        receiver.Updated += u => seen.AddOrUpdate(u.Update.TaskId, 1, (_, n) => n + 1);
        using var http = new HttpClient();
        using var deadline = new CancellationTokenSource(Deadline);
        var statuses = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => PostAsync(http, receiver.Url, TheSecret, Update($"task-{i}"), deadline.Token)));
        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(50, receiver.Accepted);
        Assert.Equal(0, receiver.Rejected);
        Assert.Equal(50, seen.Count);
        Assert.All(seen.Values, n => Assert.Equal(1, n));
    }

    [Fact]
    public async Task TheIntentQueryParameterReachesTheUpdateOnlyWhenWellFormed()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Client(), new WebhookReceiverOptions { Secret = TheSecret });
        var intents = new ConcurrentQueue<string?>();
        receiver.Updated += u => intents.Enqueue(u.IntentId);
        using var http = new HttpClient();

        async Task<string?> Intent(string query)
        {
            Assert.Equal(HttpStatusCode.OK, await PostAsync(http, new Uri(receiver.Url + query), TheSecret, Update("intent-task"), CancellationToken.None));
            Assert.True(intents.TryDequeue(out var intent));
            return intent;
        }

        Assert.Equal("abc-1", await Intent("?intent=abc-1"));
        Assert.Equal("A_b-9", await Intent("?intent=A_b-9&other=x"));
        Assert.Equal(new string('x', 64), await Intent("?intent=" + new string('x', 64)));
        Assert.Null(await Intent(string.Empty));
        Assert.Null(await Intent("?intent="));
        Assert.Null(await Intent("?intent=" + new string('x', 65)));
        Assert.Null(await Intent("?intent=a%20b"));
        Assert.Null(await Intent("?intent=a.b"));
        Assert.Null(await Intent("?intent=%C3%A9"));
        Assert.Null(await Intent("?intent=a&intent=b"));
        Assert.Equal(10, receiver.Accepted);
    }

    [Fact]
    public async Task OnlyPostsOfFetchShapedUpdatesToThePathAreAccepted()
    {
        await using var receiver = await WebhookReceiver.StartAsync(Client(), new WebhookReceiverOptions { Secret = TheSecret, MaxBodyBytes = 4096 });
        using var http = new HttpClient();
        var other = new Uri(receiver.Url, "/somewhere-else");
        Assert.Equal(HttpStatusCode.NotFound, await PostAsync(http, other, TheSecret, Update("x"), CancellationToken.None));
        using (var get = await http.GetAsync(receiver.Url))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        }

        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(http, receiver.Url, TheSecret, "not json", CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(http, receiver.Url, TheSecret, "[1,2]", CancellationToken.None));
        Assert.Equal(HttpStatusCode.BadRequest, await PostAsync(http, receiver.Url, TheSecret, """{"status":"finished"}""", CancellationToken.None));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, await PostAsync(http, receiver.Url, TheSecret, new string(' ', 5000) + Update("x"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.OK, await PostAsync(http, new Uri(receiver.Url + "/"), TheSecret, Update("x"), CancellationToken.None));
        Assert.Equal(1, receiver.Accepted);
        Assert.Equal(6, receiver.Rejected);
    }

    [Fact]
    public async Task DisposeStopsTheReceiverWithinFiveSecondsEvenWithAStalledRequest()
    {
        var mj = Client();
        var receiver = await WebhookReceiver.StartAsync(mj, new WebhookReceiverOptions { Secret = TheSecret, BodyTimeout = TimeSpan.FromMinutes(10) });
        Assert.Same(receiver.Target, mj.Webhook);
        Assert.Equal(receiver.Url, mj.Webhook!.Url);
        Assert.DoesNotContain(TheSecret, mj.Webhook.ToString(), StringComparison.Ordinal);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, receiver.Url.Port);
        await tcp.GetStream().WriteAsync(Encoding.ASCII.GetBytes($"POST {receiver.Url.AbsolutePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-webhook-secret: {TheSecret}\r\nContent-Length: 100\r\n\r\n{{"));
        await Until(() => receiver.InFlight == 1, "the stalled body is being read");

        await receiver.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Null(mj.Webhook);
        using var dropped = new CancellationTokenSource(Deadline);
        Assert.True(await ClosedAsync(tcp.GetStream(), dropped.Token), "the stalled request survived the receiver");
        using var again = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => again.ConnectAsync(IPAddress.Loopback, receiver.Url.Port));
    }

    private static async Task<HttpStatusCode> PostAsync(HttpClient http, Uri url, string secret, string body, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("x-webhook-secret", secret);
        using var response = await http.SendAsync(request, ct);
        return response.StatusCode;
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var deadline = new CancellationTokenSource(Deadline);
        while (!condition())
        {
            Assert.False(deadline.IsCancellationRequested, "timed out waiting until " + what);
            await Task.Delay(20, CancellationToken.None);
        }
    }

    /// <summary>True once the server has closed the connection (EOF or reset), reading and discarding any reply.</summary>
    private static async Task<bool> ClosedAsync(NetworkStream stream, CancellationToken ct)
    {
        var buffer = new byte[1024];
        try
        {
            while (await stream.ReadAsync(buffer, ct) > 0)
            {
            }

            return true;
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Runs <paramref name="action"/> while sampling the managed heap; returns its result and the peak growth.</summary>
    private async Task<(int? Status, long Sent, long Growth)> MeasureAsync(Func<Task<(int? Status, long Sent)>> action)
    {
        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var peak = baseline;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
                await Task.Delay(5, CancellationToken.None);
            }
        });
        var (status, sent) = await action();
        await stop.CancelAsync();
        await sampler;
        var after = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine($"managed heap: baseline {baseline >> 20} MiB, peak {peak >> 20} MiB, after {after >> 20} MiB; allocated during the test {(GC.GetTotalAllocatedBytes(precise: true) - allocated) >> 20} MiB");
        return (status, sent, Math.Max(peak, after) - baseline);
    }

    /// <summary>
    /// POSTs a chunked body of <paramref name="total"/> bytes (no Content-Length) from one reused 64 KiB chunk while
    /// reading the reply; stops sending once a status line arrives or the connection closes.
    /// </summary>
    private static async Task<(int? Status, long Sent)> SendChunkedAsync(Uri url, string secret, long total)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, url.Port, deadline.Token);
        var stream = tcp.GetStream();
        var head = $"POST {url.AbsolutePath} HTTP/1.1\r\nHost: 127.0.0.1\r\nx-webhook-secret: {secret}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head), deadline.Token);
        const int Size = 64 * 1024;
        var chunk = new byte[Size + 16];
        var prefix = Encoding.ASCII.GetBytes($"{Size:x}\r\n");
        prefix.CopyTo(chunk, 0);
        chunk.AsSpan(prefix.Length, Size).Fill((byte)' ');
        "\r\n"u8.CopyTo(chunk.AsSpan(prefix.Length + Size));
        var frame = chunk.AsMemory(0, prefix.Length + Size + 2);

        using var replied = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
        long sent = 0;
        var writer = Task.Run(async () =>
        {
            try
            {
                while (sent < total)
                {
                    await stream.WriteAsync(frame, replied.Token);
                    sent += Size;
                }

                await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), replied.Token);
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The receiver closed the connection or replied: stop sending.
            }
        });

        int? status = null;
        try
        {
            var reply = new byte[256];
            var length = 0;
            int read;
            while (length < reply.Length && (read = await stream.ReadAsync(reply.AsMemory(length), deadline.Token)) > 0)
            {
                length += read;
                var text = Encoding.ASCII.GetString(reply, 0, length);
                if (text.Contains("\r\n", StringComparison.Ordinal))
                {
                    status = int.Parse(text.AsSpan(9, 3), System.Globalization.CultureInfo.InvariantCulture);
                    break;
                }
            }
        }
        catch (IOException)
        {
            // Reset by the receiver without a reply: the connection was closed.
        }

        await replied.CancelAsync();
        await writer;
        Assert.False(deadline.IsCancellationRequested, "the receiver neither replied nor closed the connection within 60 s");
        return (status, sent);
    }

    private sealed class CapturingLogger : ILogger
    {
        public ConcurrentQueue<string> Lines { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Enqueue(formatter(state, exception) + exception);
    }
}
