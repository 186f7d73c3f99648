using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MjMcp.Sandbox;

/// <summary>
/// The provider's wire protocol (APIFRAME v1) on loopback, rendering real images: submit endpoints that
/// return a task_id at once, /fetch and /fetch-many with the provider's statuses and shapes, /account,
/// images over HTTP, webhooks with x-webhook-secret, the provider's own parent checks, and injected faults.
/// </summary>
public sealed partial class SandboxServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskStore _store;
    private readonly Channel<SandboxTask> _queue = Channel.CreateUnbounded<SandboxTask>();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _workers = [];
    private readonly HttpClient _http;
    private readonly Random _faults;
    private readonly object _faultLock = new();
    private readonly Random _statusSequence;
    private readonly object _statusLock = new();
    private readonly string? _tempDirectory;
    private readonly ILogger _logger;
    private long _creditsSpent;
    private int _renderFailures;

    private SandboxServer(WebApplication app, SandboxOptions options, TaskStore store, string? tempDirectory)
    {
        _app = app;
        Options = options;
        _store = store;
        _tempDirectory = tempDirectory;
        _faults = new Random(options.Faults.Seed);
        _statusSequence = new Random(options.StatusSeed);
        _logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("MjMcp.Sandbox");
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(5) }) { Timeout = TimeSpan.FromSeconds(10) };
        BaseUrl = null!;
    }

    /// <summary>Where it listens, with a trailing slash.</summary>
    public Uri BaseUrl { get; private set; }

    /// <summary>Requests and accepted submissions so far.</summary>
    public SandboxCounters Counters { get; } = new();

    /// <summary>The options it runs with.</summary>
    public SandboxOptions Options { get; }

    /// <summary>Every byte its storage holds (images and task JSON), for tests.</summary>
    internal long StoredBytes => _store.TotalBytes;

    /// <summary>Tasks whose rendering failed (not moderation), for tests.</summary>
    internal int RenderFailures => Volatile.Read(ref _renderFailures);

    /// <summary>Starts a sandbox on 127.0.0.1.</summary>
    public static async Task<SandboxServer> StartAsync(SandboxOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        string? temp = null;
        var root = options.DataDirectory;
        if (root is null)
        {
            temp = Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-" + Guid.NewGuid().ToString("N"));
            root = temp;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.UseKestrel(k =>
        {
            k.Listen(IPAddress.Loopback, options.Port);
            k.Limits.MaxRequestBodySize = 32L << 20;
        });
        var app = builder.Build();
        var server = new SandboxServer(app, options, new TaskStore(root, options.MaxStorageBytes, options.MinRetention, options.TimeProvider), temp);
        server.Map();
        await app.StartAsync(ct).ConfigureAwait(false);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        server.BaseUrl = new Uri(address.TrimEnd('/') + "/");
        for (var i = 0; i < RenderWorkers; i++)
        {
            server._workers.Add(Task.Run(server.RenderLoopAsync, CancellationToken.None));
        }

        // Tasks that were not finished when an earlier sandbox stopped are made now.
        foreach (var task in server._store.All.Where(t => !t.Rendered && t.Error is null))
        {
            server._queue.Writer.TryWrite(task);
        }

        return server;
    }

    /// <summary>Stops the server and the render workers.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();

        // Bounded: requests in flight get up to 2 s to be answered, then their connections are closed (RequestAborted fires).
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(grace.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);

        // A render in progress cannot be interrupted; it is awaited for at most 1 s (an unfinished task is made again on restart).
        var workers = Task.WhenAll(_workers);
        try
        {
            await workers.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
        {
        }

        _http.Dispose();
        _stopping.Dispose();
        if (_tempDirectory is not null)
        {
            try
            {
                Directory.Delete(_tempDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private void Map()
    {
        foreach (var operation in HandWritten)
        {
            var path = operation.Path;
            _app.MapPost(path, context => HandleAsync(context, path, isFetch: false, SubmitAsync));
        }

        MapSpecOperations();
        _app.MapPost("/fetch", context => HandleAsync(context, "/fetch", isFetch: true, FetchAsync));
        _app.MapPost("/fetch-many", context => HandleAsync(context, "/fetch-many", isFetch: true, FetchManyAsync));
        _app.MapGet("/account", context => HandleAsync(context, "/account", isFetch: false, AccountAsync));
        _app.MapGet("/images/{id}/{name}", ImageAsync);
        _app.MapPost(UploadPath, HandleUploadAsync);
    }

    private delegate Task<(int Status, byte[] Body)> Handler(HttpContext context, string path, JsonElement body);

    private async Task HandleAsync(HttpContext context, string path, bool isFetch, Handler handler)
    {
        Counters.Request(path);
        var faults = path == "/account" ? new FaultRates() : isFetch ? Options.Faults.Fetch : Options.Faults.Submit;
        if (faults.Latency > TimeSpan.Zero)
        {
            await Task.Delay(faults.Latency, Options.TimeProvider, context.RequestAborted).ConfigureAwait(false);
        }

        double roll;
        lock (_faultLock)
        {
            roll = _faults.NextDouble();
        }

        if (roll < faults.TooManyRequests)
        {
            context.Response.Headers.RetryAfter = "1";
            await WriteAsync(context, 429, Error("Too many requests: slow down and retry after 1 second.")).ConfigureAwait(false);
            return;
        }

        if (roll < faults.TooManyRequests + faults.ServerError)
        {
            await WriteAsync(context, 500, Error("Internal server error (injected).")).ConfigureAwait(false);
            return;
        }

        if (roll < faults.TooManyRequests + faults.ServerError + faults.DropConnection)
        {
            context.Abort();
            return;
        }

        if (!HasApiKey(context))
        {
            await WriteAsync(context, 401, Error("Invalid or missing API key: send it in the Authorization header.")).ConfigureAwait(false);
            return;
        }

        JsonElement body = default;
        if (HttpMethods.IsPost(context.Request.Method))
        {
            try
            {
                using var document = await JsonDocument.ParseAsync(context.Request.Body, default, context.RequestAborted).ConfigureAwait(false);
                body = document.RootElement.Clone();
            }
            catch (JsonException)
            {
                await WriteAsync(context, 400, Error("The request body must be a JSON object.")).ConfigureAwait(false);
                return;
            }

            if (body.ValueKind != JsonValueKind.Object)
            {
                await WriteAsync(context, 400, Error("The request body must be a JSON object.")).ConfigureAwait(false);
                return;
            }
        }

        var (status, reply) = await handler(context, path, body).ConfigureAwait(false);
        await WriteAsync(context, status, reply).ConfigureAwait(false);
    }

    private Task<(int, byte[])> FetchAsync(HttpContext context, string path, JsonElement body)
    {
        var id = Text(body, "task_id");
        if (id is null)
        {
            return Task.FromResult((400, Error("'task_id' is required.")));
        }

        var task = _store.Get(id);
        return Task.FromResult(task is null ? (400, Error($"Task not found: {id}.")) : (200, Json(w => WriteTask(w, task))));
    }

    private Task<(int, byte[])> FetchManyAsync(HttpContext context, string path, JsonElement body)
    {
        if (!body.TryGetProperty("task_ids", out var ids) || ids.ValueKind != JsonValueKind.Array || ids.GetArrayLength() is < 2 or > 20)
        {
            return Task.FromResult((400, Error("'task_ids' must be a list of 2 to 20 task ids.")));
        }

        var tasks = new List<SandboxTask>();
        foreach (var item in ids.EnumerateArray())
        {
            var task = item.ValueKind == JsonValueKind.String ? _store.Get(item.GetString()!) : null;
            if (task is null)
            {
                return Task.FromResult((400, Error($"Task not found: {item}.")));
            }

            tasks.Add(task);
        }

        return Task.FromResult((200, Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("tasks");
            foreach (var task in tasks)
            {
                WriteTask(w, task);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        })));
    }

    private Task<(int, byte[])> AccountAsync(HttpContext context, string path, JsonElement body) =>
        Task.FromResult((200, Json(w =>
        {
            w.WriteStartObject();
            w.WriteString("email", "sandbox@localhost");
            w.WriteNumber("credits", Options.StartingCredits - Interlocked.Read(ref _creditsSpent));
            w.WriteNumber("total_images", _store.All.Sum(t => t.Images.Count));
            w.WriteString("plan", "sandbox");
            w.WriteEndObject();
        })));

    private async Task ImageAsync(HttpContext context)
    {
        Counters.Request("/images");
        var id = context.Request.RouteValues["id"] as string ?? string.Empty;
        var name = (context.Request.RouteValues["name"] as string ?? string.Empty).Replace(".png", string.Empty, StringComparison.Ordinal);
        var task = _store.Get(id);
        if (task is null || !task.Images.Contains(name) || !File.Exists(_store.ImagePath(id, name)))
        {
            context.Response.StatusCode = 404;
            return;
        }

        context.Response.ContentType = "image/png";
        context.Response.Headers.CacheControl = "public, max-age=31536000, immutable";
        await context.Response.SendFileAsync(_store.ImagePath(id, name), context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The /fetch shape of a task at this moment.</summary>
    private void WriteTask(Utf8JsonWriter w, SandboxTask task)
    {
        var (status, percentage) = StatusOf(task);
        w.WriteStartObject();
        w.WriteString("task_id", task.Id);
        w.WriteString("task_type", task.TaskType);
        w.WriteString("status", status);
        if (status == "failed")
        {
            w.WriteString("error", task.Error);
            w.WriteString("message", task.Error);
            w.WriteEndObject();
            return;
        }

        w.WriteString("percentage", percentage.ToString(CultureInfo.InvariantCulture));
        if (status == "finished")
        {
            // The provider's grid shape for four images, image_url for one; a spec stage of another count lists them.
            var images = task.SpecMade ? task.ImageCount : task.Stage == "grid" ? 4 : task.Stage is null ? 0 : 1;
            if (images == 4)
            {
                w.WriteString("original_image_url", ImageUrl(task, "grid"));
                w.WriteStartArray("image_urls");
                for (var i = 1; i <= 4; i++)
                {
                    w.WriteStringValue(ImageUrl(task, i.ToString(CultureInfo.InvariantCulture)));
                }

                w.WriteEndArray();
            }
            else if (images == 1)
            {
                w.WriteString("image_url", ImageUrl(task, "image"));
            }
            else if (images > 1)
            {
                w.WriteStartArray("image_urls");
                for (var i = 1; i <= images; i++)
                {
                    w.WriteStringValue(ImageUrl(task, i.ToString(CultureInfo.InvariantCulture)));
                }

                w.WriteEndArray();
            }

            if (task.SeedValue is not null)
            {
                w.WriteString("seed", task.SeedValue);
            }

            // describe: the provider's example carries the described image.
            if (!task.SpecMade && task.Operation == "describe")
            {
                w.WriteString("image_url", task.Prompt);
            }

            if (task.Content is not null)
            {
                w.WriteStartArray("content");
                foreach (var line in task.Content)
                {
                    w.WriteStringValue(line);
                }

                w.WriteEndArray();
            }

            if (task.FullContent is not null)
            {
                w.WriteString("full_content", task.FullContent);
            }

            WriteResultFields(w, task);
        }

        w.WriteEndObject();
    }

    /// <summary>Marks when a done task is first seen finished or failed (after its timing says so): its retention counts from there.</summary>
    private void MarkDone(SandboxTask task)
    {
        var now = Options.TimeProvider.GetUtcNow();
        var visible = task.CreatedAt + Options.Timing.Queued + Options.Timing.Running;
        task.FinishedAt ??= visible > now ? visible : now;
    }

    private string ImageUrl(SandboxTask task, string name) => new Uri(BaseUrl, $"images/{task.Id}/{name}.png").ToString();

    /// <summary>pending → processing (rising percentage) → finished or failed, from the task's age.</summary>
    private (string Status, int Percentage) StatusOf(SandboxTask task)
    {
        var age = Options.TimeProvider.GetUtcNow() - task.CreatedAt;
        var timing = Options.Timing;
        if (age < timing.Queued)
        {
            // Extended statuses: pending, then staged and/or starting, each an equal share of the queue phase.
            return task.QueueStatuses is { Count: > 0 } queue
                ? (queue[Math.Clamp((int)(age / timing.Queued * queue.Count), 0, queue.Count - 1)], 0)
                : ("pending", 0);
        }

        var running = age - timing.Queued;
        var fraction = timing.Running <= TimeSpan.Zero ? 1.0 : running / timing.Running;
        if (task.Error is not null && (fraction >= 0.3 || timing.Running <= TimeSpan.Zero))
        {
            return ("failed", 0);
        }

        if (fraction >= 1 && task.Rendered)
        {
            return ("finished", 100);
        }

        // Extended statuses: a retrying episode, its percentage held where it began.
        if (task.RetryFrom is { } from && task.RetryTo is { } to && fraction >= from && fraction < to)
        {
            return ("retrying", Math.Clamp((int)(from * 100), 0, 99));
        }

        return ("processing", Math.Clamp((int)(fraction * 100), 0, 99));
    }

    /// <summary>Whether tasks pass through staged, starting and retrying (see <see cref="SandboxOptions.ExtendedStatuses"/>).</summary>
    private bool ExtendedStatuses => Options.ExtendedStatuses || Options.Timing == SandboxTiming.Realistic;

    /// <summary>Decides, from the seeded status sequence, which extended statuses a new task passes through.</summary>
    private void PlanStatuses(SandboxTask task)
    {
        if (!ExtendedStatuses)
        {
            return;
        }

        double staged, starting, retry, from, length;
        lock (_statusLock)
        {
            // Always five draws per task, so each task's plan depends only on the seed and its place in the sequence.
            staged = _statusSequence.NextDouble();
            starting = _statusSequence.NextDouble();
            retry = _statusSequence.NextDouble();
            from = _statusSequence.NextDouble();
            length = _statusSequence.NextDouble();
        }

        if (Options.Timing.Queued > TimeSpan.Zero && (staged < 0.5 || starting < 0.5))
        {
            task.QueueStatuses = ["pending"];
            if (staged < 0.5)
            {
                task.QueueStatuses.Add("staged");
            }

            if (starting < 0.5)
            {
                task.QueueStatuses.Add("starting");
            }
        }

        if (Options.Timing.Running > TimeSpan.Zero && retry < 0.35)
        {
            task.RetryFrom = 0.2 + (from * 0.5);
            task.RetryTo = task.RetryFrom + 0.1 + (length * 0.15);
        }
    }

    /// <summary>How often webhook delivery looks for a change: often enough to see every extended status.</summary>
    private TimeSpan WebhookStep()
    {
        var timing = Options.Timing;
        var step = timing.Running > TimeSpan.Zero ? TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks, timing.Running.Ticks / 5)) : TimeSpan.FromMilliseconds(50);
        if (!ExtendedStatuses)
        {
            return step;
        }

        // A queue share is at least a third of the queue phase, a retrying episode at least a tenth of the running phase.
        var ticks = step.Ticks;
        if (timing.Queued > TimeSpan.Zero)
        {
            ticks = Math.Min(ticks, timing.Queued.Ticks / 6);
        }

        if (timing.Running > TimeSpan.Zero)
        {
            ticks = Math.Min(ticks, timing.Running.Ticks / 20);
        }

        return TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(20).Ticks, ticks));
    }

    private async Task WriteAsync(HttpContext context, int status, byte[] body)
    {
        if (Options.Strict && status >= 400)
        {
            body = StrictError(status, body);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The provider's error shape: errors[].msg for its docs, message for its SDK.</summary>
    internal static byte[] Error(string message) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("errors");
        w.WriteStartObject();
        w.WriteString("msg", message);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteString("message", message);
        w.WriteEndObject();
    });

    /// <summary>
    /// The provider's documented error bodies: 401 and 500 are <c>{}</c>; any other error keeps only <c>errors[].msg</c>.
    /// </summary>
    private static byte[] StrictError(int status, byte[] body)
    {
        if (status is 401 or 500)
        {
            return "{}"u8.ToArray();
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("errors", out var errors))
            {
                return body;
            }

            return Json(w =>
            {
                w.WriteStartObject();
                w.WritePropertyName("errors");
                errors.WriteTo(w);
                w.WriteEndObject();
            });
        }
        catch (JsonException)
        {
            return body;
        }
    }

    internal static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    internal static string? Text(JsonElement body, string name) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var value)
            ? value.ValueKind switch
            {
                JsonValueKind.String => value.GetString(),
                JsonValueKind.Number => value.GetRawText(),
                _ => null,
            }
            : null;
}
