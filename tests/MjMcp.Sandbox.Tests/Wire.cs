using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace MjMcp.Sandbox.Tests;

/// <summary>Small helpers for talking to a sandbox on the wire.</summary>
internal static class Wire
{
    public static async Task<(SandboxServer Server, HttpClient Http)> StartAsync(SandboxOptions options)
    {
        var server = await SandboxServer.StartAsync(options);
        return (server, Client(server.BaseUrl, server.Options.ApiKey ?? "any"));
    }

    public static HttpClient Client(Uri baseUrl, string key)
    {
        var http = new HttpClient { BaseAddress = baseUrl, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", key);
        return http;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, string path, JsonObject body)
    {
        using var response = await http.PostAsync(path.TrimStart('/'), new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<string> SubmitAsync(HttpClient http, string path, JsonObject body)
    {
        var (status, reply) = await PostAsync(http, path, body);
        Assert.True(status == HttpStatusCode.OK, $"{path} → {status} {reply}");
        return reply.GetProperty("task_id").GetString()!;
    }

    public static async Task<JsonElement> FinishedAsync(HttpClient http, string taskId)
    {
        for (var i = 0; i < 2400; i++)
        {
            var (_, reply) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = taskId });
            if (reply.GetProperty("status").GetString() is "finished" or "failed")
            {
                return reply;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException(taskId);
    }

    public static async Task<long> CreditsAsync(HttpClient http)
    {
        using var account = await http.GetAsync("account");
        return JsonDocument.Parse(await account.Content.ReadAsStringAsync()).RootElement.GetProperty("credits").GetInt64();
    }

    public static void AssertError(HttpStatusCode status, JsonElement body, HttpStatusCode expected, string fragment)
    {
        Assert.True(expected == status, $"{status} {body}");
        var message = body.GetProperty("message").GetString()!;
        Assert.Equal(message, body.GetProperty("errors")[0].GetProperty("msg").GetString());
        Assert.Contains(fragment, message, StringComparison.Ordinal);
    }
}

/// <summary>A loopback webhook receiver for tests: records each POST to /hook (the x-webhook-secret header and the JSON body).</summary>
internal sealed class WebhookSink : IAsyncDisposable
{
    private readonly WebApplication _app;

    private WebhookSink(WebApplication app, string url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The URL to give the sandbox as webhook_url.</summary>
    public string Url { get; }

    /// <summary>Every call received, in order.</summary>
    public ConcurrentQueue<(string? Secret, JsonElement Body)> Received { get; } = new();

    /// <summary>The bodies received, in order.</summary>
    public IEnumerable<JsonElement> Bodies => Received.Select(r => r.Body);

    public static async Task<WebhookSink> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        WebhookSink? sink = null;
        app.MapPost("/hook", async (HttpContext context) =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            sink!.Received.Enqueue((context.Request.Headers["x-webhook-secret"].ToString(), body.RootElement.Clone()));
            return Results.Ok();
        });
        await app.StartAsync();
        sink = new WebhookSink(app, app.Urls.First().TrimEnd('/') + "/hook");
        return sink;
    }

    public ValueTask DisposeAsync() => _app.DisposeAsync();
}
