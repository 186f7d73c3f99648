using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace MjMcp.Sdk.Tests;

/// <summary>A recorded request.</summary>
internal sealed record Recorded(HttpMethod Method, string Path, string? Authorization, JsonElement? Body);

/// <summary>An HttpMessageHandler that records every request and answers from a script.</summary>
internal sealed class ScriptedHandler(Func<Recorded, HttpResponseMessage> reply) : HttpMessageHandler
{
    public ConcurrentQueue<Recorded> Requests { get; } = new();

    public int Count(string path) => Requests.Count(r => r.Path.EndsWith(path, StringComparison.Ordinal));

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        JsonElement? body = null;
        if (request.Content is not null)
        {
            body = JsonDocument.Parse(await request.Content.ReadAsStringAsync(cancellationToken)).RootElement.Clone();
        }

        var recorded = new Recorded(request.Method, request.RequestUri!.AbsolutePath, request.Headers.TryGetValues("Authorization", out var values) ? values.Single() : null, body);
        Requests.Enqueue(recorded);
        return reply(recorded);
    }

    public static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
}

/// <summary>Collects log lines.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Lines.Enqueue(formatter(state, exception) + " " + exception);
}

internal static class Fake
{
    public const string Key = "sk-test-SECRET-4411";

    public static MidjourneyClient Client(ScriptedHandler handler, TimeProvider? time = null, Action<MidjourneyOptions>? configure = null, ILogger<MidjourneyClient>? logger = null)
    {
        var options = new MidjourneyOptions { BaseUrl = new Uri("http://provider.test/"), ApiKey = Key, PollInitialDelay = TimeSpan.FromSeconds(2) };
        configure?.Invoke(options);
        return new MidjourneyClient(new HttpClient(handler), options, logger, time);
    }

    /// <summary>Advances a fake clock until the task completes (polling waits on the fake clock).</summary>
    public static async Task<T> Drive<T>(FakeTimeProvider time, Task<T> task, TimeSpan? step = null)
    {
        for (var i = 0; i < 100_000 && !task.IsCompleted; i++)
        {
            time.Advance(step ?? TimeSpan.FromMilliseconds(100));
            await Task.Delay(1);
        }

        return await task;
    }

    public static string Grid(string id, string status = "finished", int pct = 100) => status == "finished"
        ? $$"""{"task_id":"{{id}}","task_type":"imagine","status":"finished","percentage":"100","original_image_url":"http://cdn/{{id}}.png","image_urls":["http://cdn/1.png","http://cdn/2.png","http://cdn/3.png","http://cdn/4.png"]}"""
        : $$"""{"task_id":"{{id}}","task_type":"imagine","status":"{{status}}","percentage":"{{pct}}"}""";

    public static GridTask GridTask(string id = "grid-1", string operation = "imagine") => new()
    {
        TaskId = id,
        TaskType = operation == "imagine" ? "imagine" : "variation-1",
        Operation = operation,
        ImageUrls = ["http://cdn/1.png", "http://cdn/2.png", "http://cdn/3.png", "http://cdn/4.png"],
    };

    public static UpscaledTask Upscaled(string id = "up-1") => new() { TaskId = id, TaskType = "upscale#2", Operation = "upscale-1x", ImageUrls = ["http://cdn/u.png"] };
}
