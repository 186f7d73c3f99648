using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace MjMcp.Server.Tests;

/// <summary>
/// "Observe it": the real mjmcp process exports traces, metrics and logs over OTLP/HTTP to a loopback receiver when an
/// endpoint is configured, with the tool calls, task ids and metric names, and never the API key, the webhook secret or
/// a request body; without an endpoint nothing is exported.
/// </summary>
public sealed class TelemetryTests(SandboxFixture fixture) : IClassFixture<SandboxFixture>
{
    /// <summary>Short export intervals, so the test need not wait for the defaults (5 s spans and logs, 60 s metrics).</summary>
    private static Dictionary<string, string?> FastExport() => new()
    {
        ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        ["OTEL_BSP_SCHEDULE_DELAY"] = "100",
        ["OTEL_BLRP_SCHEDULE_DELAY"] = "100",
        ["OTEL_METRIC_EXPORT_INTERVAL"] = "300",
    };

    [Fact]
    public async Task ToolCallsTaskIdsAndMetricsAreExportedAndNoSecretIs()
    {
        using var receiver = OtlpReceiver.Start(port: 0);
        var env = FastExport();
        env["MJMCP_OTLP_ENDPOINT"] = receiver.Url;
        var webhookPort = Paths.FreePort();
        env["MJMCP_WEBHOOK_PORT"] = webhookPort.ToString(System.Globalization.CultureInfo.InvariantCulture); // the webhook receiver runs (with its secret), and the sandbox calls it
        var marker = "telemetry-" + Guid.NewGuid().ToString("N")[..12];
        string gridId, pickId, failedId, secret;
        await using (var server = await ServerProcess.StartAsync(fixture.Sandbox, env: env))
        {
            gridId = (await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse " + marker })).GetProperty("task_id").GetString()!;
            pickId = (await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 1 })).GetProperty("task_id").GetString()!;
            var refused = await server.CallAsync("pan", new JsonObject { ["parent_task_id"] = gridId, ["direction"] = "left" });
            Assert.True(refused.IsError);
            var failed = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a forbidden castle" });
            failedId = failed.StructuredContent!.Value.GetProperty("task_id").GetString()!;
            secret = await File.ReadAllTextAsync(Path.Combine(server.DataDir, "webhook.secret"));

            // A stranger's callback with a wrong secret: refused, and its "secret" never exported either.
            using var http = new HttpClient();
            using var stranger = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{webhookPort}/mjmcp/webhook") { Content = new StringContent("{}") };
            stranger.Headers.Add("x-webhook-secret", "stranger-secret-" + marker);
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(stranger)).StatusCode);

            // The exports of the running server, before it stops and flushes the rest.
            await receiver.WaitForAsync(r => r.Spans().Any(s => s.Name == "tools/call upscale_1x") && r.MetricNames().Contains(MjMcpServerTelemetry.TasksMetric));
        }

        await receiver.WaitForAsync(r => r.Spans().Any(s => s.Name == "webhook receive" && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.Outcome) == "refused"));
        var spans = receiver.Spans();

        // A span per tool call with the tool, the outcome and the task id; the SDK's submit and wait spans inside it.
        var imagine = Assert.Single(spans, s => s.Name == "tools/call imagine" && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.TaskId) == gridId);
        Assert.Equal("ok", imagine.Attributes[MjTelemetry.Tags.Outcome]);
        Assert.Equal("imagine", imagine.Attributes[MjMcpServerTelemetry.Tags.Tool]);
        var submit = Assert.Single(spans, s => s.Name == "submit imagine" && s.TraceId == imagine.TraceId);
        Assert.Equal(gridId, submit.Attributes[MjTelemetry.Tags.TaskId]);
        Assert.Equal("accepted", submit.Attributes[MjTelemetry.Tags.Outcome]);
        Assert.Contains(spans, s => s.Name == "wait" && s.TraceId == imagine.TraceId && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.TaskId) == gridId);
        Assert.Contains(spans, s => s.Name == "journal write" && s.TraceId == imagine.TraceId);
        Assert.All(spans.Where(s => s.Name.StartsWith("journal ", StringComparison.Ordinal)), s => Assert.NotEmpty(s.ParentSpanId)); // the tasks gauge's own reads make no stray root spans

        var upscale = Assert.Single(spans, s => s.Name == "tools/call upscale_1x");
        Assert.Equal(pickId, upscale.Attributes[MjTelemetry.Tags.TaskId]);
        Assert.Equal(gridId, upscale.Attributes[MjTelemetry.Tags.ParentTaskId]);

        var pan = Assert.Single(spans, s => s.Name == "tools/call pan");
        Assert.Equal("refused", pan.Attributes[MjTelemetry.Tags.Outcome]);
        Assert.Equal(RefusalCodes.WrongParentStage, pan.Attributes[MjMcpServerTelemetry.Tags.Code]);
        Assert.DoesNotContain(spans, s => s.Name == "submit pan");

        // Webhooks: the sandbox's callbacks were accepted and name their task; the stranger's was refused.
        Assert.Contains(spans, s => s.Name == "webhook receive" && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.Outcome) == "accepted" && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.TaskId) == pickId);

        // Logs carry the task id (a scope) and the trace of the tool call that wrote them.
        var failedCall = Assert.Single(spans, s => s.Name == "tools/call imagine" && s.Attributes.GetValueOrDefault(MjTelemetry.Tags.TaskId) == failedId);
        var failureLog = Assert.Single(receiver.Logs(), l => l.Attributes.GetValueOrDefault("TaskId") == failedId && l.Body.Contains("failed at the provider", StringComparison.Ordinal));
        Assert.Equal(failedCall.TraceId, failureLog.TraceId);

        // The metric names, and the service.
        var metrics = receiver.MetricNames();
        foreach (var name in new[] { MjMcpServerTelemetry.ToolCallsMetric, MjMcpServerTelemetry.ToolDurationMetric, MjMcpServerTelemetry.RefusalsMetric, MjMcpServerTelemetry.CreditsMetric, MjMcpServerTelemetry.TasksMetric, MjMcpServerTelemetry.WebhooksMetric, MjMcpServerTelemetry.QueueWaitMetric, MjTelemetry.SubmitsMetric, MjTelemetry.CreditsMetric, MjTelemetry.WaitDurationMetric })
        {
            Assert.Contains(name, metrics);
        }

        Assert.Contains(receiver.Posts, p => p.Path == "/v1/logs");
        Assert.True(receiver.Contains("service.name") && receiver.Contains("mjmcp"), "no service.name mjmcp in the resource");

        // Never a key or secret, nor a request body: searched in every byte received.
        Assert.False(receiver.Contains(fixture.Sandbox.Options.ApiKey!), "the API key was exported");
        Assert.False(receiver.Contains(secret.Trim()), "the webhook secret was exported");
        Assert.False(receiver.Contains("stranger-secret-" + marker), "a sender's secret header was exported");
        Assert.False(receiver.Contains(marker), "a request body (the prompt) was exported");
    }

    [Fact]
    public async Task WithoutAnEndpointNothingIsExported()
    {
        // On the default OTLP/HTTP port (what an exporter without an endpoint would use), when it is free here.
        using var receiver = OtlpReceiver.Start(port: PortFree(4318) ? 4318 : 0);
        await using (var server = await ServerProcess.StartAsync(fixture.Sandbox, env: FastExport()))
        {
            await server.OkAsync("imagine", new JsonObject { ["prompt"] = "an unobserved lighthouse" });
        }

        // The server has stopped (and would have flushed any exporter on the way out).
        Assert.Empty(receiver.Posts);
    }

    [Fact]
    public void OnlyAConfiguredEndpointRegistersTheExporter()
    {
        static IHost Build(Uri? endpoint)
        {
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.AddMjMcpServer(new McpSpec(MidjourneySpec.Rules, []), o =>
            {
                o.DataDir = Paths.TempDir("otel-di");
                o.OtlpEndpoint = endpoint;
            });
            return builder.Build();
        }

        using (var plain = Build(null))
        {
            Assert.Null(plain.Services.GetService<TracerProvider>());
            Assert.Null(plain.Services.GetService<MeterProvider>());
        }

        using var observed = Build(new Uri("http://127.0.0.1:1"));
        Assert.NotNull(observed.Services.GetService<TracerProvider>());
        Assert.NotNull(observed.Services.GetService<MeterProvider>());
    }

    [Fact]
    public void AnOtlpEndpointWithCredentialsIsRefusedWithoutEchoingThem()
    {
        var options = new MjMcpServerOptions { OtlpEndpoint = new Uri("https://user:hunter2@collector.example:4318") };
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(options.Validate);
        Assert.Contains("OTEL_EXPORTER_OTLP_HEADERS", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SELECT * FROM tasks WHERE task_id = $id", "SELECT tasks")]
    [InlineData("  UPDATE intents SET state = 'NotSent' WHERE intent_id = $id", "UPDATE intents")]
    [InlineData("INSERT INTO spend (intent_id) VALUES ($id) ON CONFLICT(intent_id) DO NOTHING;", "INSERT spend")]
    public void JournalSpansNameTheStatementNotItsValues(string sql, string summary) => Assert.Equal(summary, ServerTelemetry.SqlSummary(sql));


    private static bool PortFree(int port)
    {
        try
        {
            using var probe = new TcpListener(IPAddress.Loopback, port);
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}

/// <summary>A tiny OTLP/HTTP receiver on loopback: records every POST (path and protobuf bytes) and answers 200.</summary>
internal sealed class OtlpReceiver : IDisposable
{
    private readonly HttpListener _listener;
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _posts = new();
    private readonly Task _loop;

    private OtlpReceiver(HttpListener listener, string url)
    {
        _listener = listener;
        Url = url;
        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    public IReadOnlyList<(string Path, byte[] Body)> Posts => _posts.ToList();

    public static OtlpReceiver Start(int port)
    {
        for (var attempt = 0; ; attempt++)
        {
            var chosen = port;
            if (chosen == 0)
            {
                using var probe = new TcpListener(IPAddress.Loopback, 0);
                probe.Start();
                chosen = ((IPEndPoint)probe.LocalEndpoint).Port;
            }

            var listener = new HttpListener();
            listener.Prefixes.Add($"http://localhost:{chosen}/");
            try
            {
                listener.Start();
                return new OtlpReceiver(listener, $"http://localhost:{chosen}");
            }
            catch (HttpListenerException) when (port == 0 && attempt < 5)
            {
                listener.Close(); // taken between the probe and the bind: another port
            }
        }
    }

    public bool Contains(string text)
    {
        var needle = Encoding.UTF8.GetBytes(text);
        return _posts.Any(p => p.Body.AsSpan().IndexOf(needle) >= 0);
    }

    /// <summary>Waits (at most 60 s, for a loaded machine) until <paramref name="done"/> holds for what was received.</summary>
    public async Task WaitForAsync(Func<OtlpReceiver, bool> done)
    {
        for (var i = 0; i < 600 && !done(this); i++)
        {
            await Task.Delay(100);
        }

        Assert.True(done(this), "the expected telemetry never arrived: " + string.Join(", ", Spans().Select(s => s.Name).Distinct()));
    }

    /// <summary>Every span received: ExportTraceServiceRequest → ResourceSpans(1) → ScopeSpans(2) → Span(2).</summary>
    public List<OtlpSpan> Spans() =>
        Bodies("/v1/traces").SelectMany(b => Proto.Messages(b, 1)).SelectMany(r => Proto.Messages(r, 2)).SelectMany(s => Proto.Messages(s, 2))
            .Select(span => new OtlpSpan(
                Proto.Text(span, 5) ?? string.Empty,
                Convert.ToHexString(Proto.Bytes(span, 1)),
                Convert.ToHexString(Proto.Bytes(span, 4)),
                Proto.Attributes(span, 9)))
            .ToList();

    /// <summary>Every log record: ExportLogsServiceRequest → ResourceLogs(1) → ScopeLogs(2) → LogRecord(2).</summary>
    public List<OtlpLog> Logs() =>
        Bodies("/v1/logs").SelectMany(b => Proto.Messages(b, 1)).SelectMany(r => Proto.Messages(r, 2)).SelectMany(s => Proto.Messages(s, 2))
            .Select(log => new OtlpLog(
                Proto.Messages(log, 5).Select(v => Proto.Text(v, 1)).FirstOrDefault() ?? string.Empty,
                Convert.ToHexString(Proto.Bytes(log, 9)),
                Proto.Attributes(log, 6)))
            .ToList();

    /// <summary>Every metric name: ExportMetricsServiceRequest → ResourceMetrics(1) → ScopeMetrics(2) → Metric(2) → name(1).</summary>
    public HashSet<string> MetricNames() =>
        Bodies("/v1/metrics").SelectMany(b => Proto.Messages(b, 1)).SelectMany(r => Proto.Messages(r, 2)).SelectMany(s => Proto.Messages(s, 2))
            .Select(m => Proto.Text(m, 1) ?? string.Empty)
            .ToHashSet(StringComparer.Ordinal);

    public void Dispose()
    {
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener closed under a pending read.
        }
    }

    private IEnumerable<ReadOnlyMemory<byte>> Bodies(string path) => _posts.Where(p => p.Path == path).Select(p => (ReadOnlyMemory<byte>)p.Body);

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var body = new MemoryStream();
            var input = context.Request.Headers["Content-Encoding"] == "gzip" ? new GZipStream(context.Request.InputStream, CompressionMode.Decompress) : context.Request.InputStream;
            await input.CopyToAsync(body);
            _posts.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
            context.Response.StatusCode = 200;
            context.Response.ContentType = "application/x-protobuf";
            context.Response.Close();
        }
    }
}

internal sealed record OtlpSpan(string Name, string TraceId, string ParentSpanId, Dictionary<string, string> Attributes);

internal sealed record OtlpLog(string Body, string TraceId, Dictionary<string, string> Attributes);

/// <summary>
/// Just enough of the protobuf wire format to read OTLP exports (the OTLP message classes are not a package the mirror
/// serves, and a hand-walk of the few fields the test reads is shorter than generating them).
/// </summary>
internal static class Proto
{
    /// <summary>The fields of a message: number, wire type, and the varint or the length-delimited bytes.</summary>
    public static List<(int Field, int Wire, ulong Number, ReadOnlyMemory<byte> Bytes)> Fields(ReadOnlyMemory<byte> message)
    {
        var fields = new List<(int, int, ulong, ReadOnlyMemory<byte>)>();
        var span = message.Span;
        var at = 0;
        while (at < span.Length)
        {
            var key = Varint(span, ref at);
            var wire = (int)(key & 7);
            var field = (int)(key >> 3);
            switch (wire)
            {
                case 0:
                    fields.Add((field, wire, Varint(span, ref at), ReadOnlyMemory<byte>.Empty));
                    break;
                case 1:
                    fields.Add((field, wire, BitConverter.ToUInt64(span.Slice(at, 8)), message.Slice(at, 8)));
                    at += 8;
                    break;
                case 2:
                    var length = (int)Varint(span, ref at);
                    fields.Add((field, wire, 0, message.Slice(at, length)));
                    at += length;
                    break;
                case 5:
                    fields.Add((field, wire, BitConverter.ToUInt32(span.Slice(at, 4)), message.Slice(at, 4)));
                    at += 4;
                    break;
                default:
                    throw new InvalidDataException($"wire type {wire} at byte {at}");
            }
        }

        return fields;
    }

    public static IEnumerable<ReadOnlyMemory<byte>> Messages(ReadOnlyMemory<byte> message, int field) =>
        Fields(message).Where(f => f.Field == field && f.Wire == 2).Select(f => f.Bytes);

    public static byte[] Bytes(ReadOnlyMemory<byte> message, int field) => Messages(message, field).FirstOrDefault().ToArray();

    public static string? Text(ReadOnlyMemory<byte> message, int field) =>
        Messages(message, field).Select(b => Encoding.UTF8.GetString(b.Span)).FirstOrDefault();

    /// <summary>KeyValue attributes (key 1, AnyValue 2: string 1, bool 2, int 3) as text.</summary>
    public static Dictionary<string, string> Attributes(ReadOnlyMemory<byte> message, int field)
    {
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in Messages(message, field))
        {
            var key = Text(pair, 1);
            var value = Messages(pair, 2).FirstOrDefault();
            if (key is null)
            {
                continue;
            }

            var any = Fields(value).FirstOrDefault();
            attributes[key] = any.Field switch
            {
                1 => Encoding.UTF8.GetString(any.Bytes.Span),
                2 => (any.Number != 0).ToString(),
                3 => ((long)any.Number).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => string.Empty,
            };
        }

        return attributes;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = span[at++];
            value |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }
    }
}
