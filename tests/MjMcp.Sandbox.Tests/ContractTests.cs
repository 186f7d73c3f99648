using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>The sandbox speaks the provider's wire protocol: shapes, statuses, errors, auth, webhooks, faults, durability.</summary>
public sealed class ContractTests
{
    private static async Task<(SandboxServer Server, HttpClient Http)> StartAsync(SandboxOptions? options = null)
    {
        var server = await SandboxServer.StartAsync(options ?? new SandboxOptions { ApiKey = "key-1" });
        var http = new HttpClient { BaseAddress = server.BaseUrl };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", server.Options.ApiKey ?? "any");
        return (server, http);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsync(path.TrimStart('/'), new StringContent(JsonSerializer.Serialize(body is JsonNode node ? node : JsonSerializer.SerializeToNode(body)), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private static async Task<string> SubmitAsync(HttpClient http, string path, JsonObject body)
    {
        var (status, reply) = await PostAsync(http, path, body);
        Assert.True(status == HttpStatusCode.OK, $"{path} {body.ToJsonString()} → {status} {reply}");
        return reply.GetProperty("task_id").GetString()!;
    }

    private static async Task<JsonElement> FinishedAsync(HttpClient http, string taskId)
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

    private static void AssertError(HttpStatusCode status, JsonElement body, HttpStatusCode expected, string fragment)
    {
        Assert.Equal(expected, status);
        var message = body.GetProperty("message").GetString()!;
        Assert.Equal(message, body.GetProperty("errors")[0].GetProperty("msg").GetString());
        Assert.Contains(fragment, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthAcceptsBareAndBearerKeysAndRefusesOthers()
    {
        var (server, http) = await StartAsync();
        await using var _ = server;
        using var raw = new HttpClient { BaseAddress = server.BaseUrl };
        foreach (var (header, expected) in new[] { ("key-1", HttpStatusCode.OK), ("Bearer key-1", HttpStatusCode.OK), ("wrong", HttpStatusCode.Unauthorized), (string.Empty, HttpStatusCode.Unauthorized) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "account");
            if (header.Length > 0)
            {
                request.Headers.TryAddWithoutValidation("Authorization", header);
            }

            using var response = await raw.SendAsync(request);
            Assert.Equal(expected, response.StatusCode);
            if (expected == HttpStatusCode.Unauthorized)
            {
                var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                Assert.Contains("API key", body.GetProperty("message").GetString(), StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task WithNoConfiguredKeyAnyKeyIsAcceptedButABareBearerIsNot()
    {
        await using var server = await SandboxServer.StartAsync(new SandboxOptions());
        using var raw = new HttpClient { BaseAddress = server.BaseUrl };
        foreach (var (header, expected) in new[] { ("anything", HttpStatusCode.OK), ("Bearer anything", HttpStatusCode.OK), ("Bearer", HttpStatusCode.Unauthorized), ("Bearer   ", HttpStatusCode.Unauthorized), ("bearer", HttpStatusCode.Unauthorized) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "account");
            request.Headers.TryAddWithoutValidation("Authorization", header);
            using var response = await raw.SendAsync(request);
            Assert.True(expected == response.StatusCode, $"'{header}': {response.StatusCode}");
        }
    }

    [Fact]
    public async Task FinishedShapesMatchTheProvider()
    {
        var (server, http) = await StartAsync();
        await using var _ = server;
        var imagine = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "a harbour at night", ["aspect_ratio"] = "3:2" });
        var grid = await FinishedAsync(http, imagine);
        Assert.Equal("imagine", grid.GetProperty("task_type").GetString());
        Assert.Equal("finished", grid.GetProperty("status").GetString());
        Assert.Equal("100", grid.GetProperty("percentage").GetString());
        Assert.Equal(4, grid.GetProperty("image_urls").GetArrayLength());
        var gridPng = await http.GetByteArrayAsync(new Uri(grid.GetProperty("original_image_url").GetString()!));
        Assert.Equal((2048, 1364), PngCodec.ReadSize(gridPng));
        Assert.Equal((1024, 682), PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(grid.GetProperty("image_urls")[2].GetString()!))));

        var upscale = await FinishedAsync(http, await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = 3 }));
        Assert.Equal("upscale#3", upscale.GetProperty("task_type").GetString());
        var image = PngCodec.Decode(await http.GetByteArrayAsync(new Uri(upscale.GetProperty("image_url").GetString()!)));
        var quadrant = Pictures.Quadrant(PngCodec.Decode(gridPng), 3);
        Assert.Equal(Pictures.PixelHash(quadrant), Pictures.PixelHash(image));

        var seed = await FinishedAsync(http, await SubmitAsync(http, "/seed", new JsonObject { ["task_id"] = imagine }));
        Assert.Equal(JsonValueKind.String, seed.GetProperty("seed").ValueKind);
        var describe = await FinishedAsync(http, await SubmitAsync(http, "/describe", new JsonObject { ["image_url"] = upscale.GetProperty("image_url").GetString() }));
        Assert.Equal(4, describe.GetProperty("content").GetArrayLength());
        var shorten = await FinishedAsync(http, await SubmitAsync(http, "/shorten", new JsonObject { ["prompt"] = "a very beautiful harbour at night with amazing boats" }));
        Assert.True(shorten.GetProperty("content").GetArrayLength() >= 1);
        Assert.Contains("harbour", shorten.GetProperty("full_content").GetString(), StringComparison.Ordinal);
        var upscaled = upscale.GetProperty("task_id").GetString()!;
        var highres = await FinishedAsync(http, await SubmitAsync(http, "/upscale-highres", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "2x" }));
        Assert.Equal((2048, 1364), PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(highres.GetProperty("image_url").GetString()!))));
        var outpaint = await FinishedAsync(http, await SubmitAsync(http, "/outpaint", new JsonObject { ["parent_task_id"] = upscaled, ["zoom_ratio"] = "1.5" }));
        Assert.Equal("outpaint-1.5", outpaint.GetProperty("task_type").GetString());
        var mask = new RgbaImage(16, 16);
        Array.Fill(mask.Pixels, (byte)255);
        var inpaint = await FinishedAsync(http, await SubmitAsync(http, "/inpaint", new JsonObject { ["parent_task_id"] = upscaled, ["mask"] = "data:image/png;base64," + Convert.ToBase64String(PngCodec.Encode(mask)) }));
        Assert.Equal("inpaint", inpaint.GetProperty("task_type").GetString());

        var many = await PostAsync(http, "/fetch-many", new JsonObject { ["task_ids"] = new JsonArray(imagine, upscaled) });
        Assert.Equal(2, many.Body.GetProperty("tasks").GetArrayLength());
        using var account = await http.GetAsync("account");
        var credits = JsonDocument.Parse(await account.Content.ReadAsStringAsync()).RootElement.GetProperty("credits").GetInt64();
        Assert.Equal(10_000 - 4 - 2 - 2 - 2 - 2 - 1 - 4 - 4, credits); // upscale-highres 2x costs 1
        Assert.Equal(8, server.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task TheProvidersOwnChecksRefuseBadParentsAndValues()
    {
        var (server, http) = await StartAsync();
        await using var _ = server;
        var grid = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "checks" });
        await FinishedAsync(http, grid);
        var up = await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = "1" });
        await FinishedAsync(http, up);
        var alt = await SubmitAsync(http, "/upscale-alt", new JsonObject { ["parent_task_id"] = up, ["type"] = "subtle" });
        await FinishedAsync(http, alt);
        var variation = await SubmitAsync(http, "/variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = "2" });
        await FinishedAsync(http, variation);
        var before = server.Counters.AcceptedSubmissions;

        var cases = new (string Path, JsonObject Body, string Fragment)[]
        {
            ("/pan", new JsonObject { ["parent_task_id"] = grid, ["direction"] = "left" }, "call /upscale-1x on it first"),
            ("/inpaint", new JsonObject { ["parent_task_id"] = grid, ["mask"] = "AAAA" }, "base64"),
            ("/outpaint", new JsonObject { ["parent_task_id"] = grid, ["zoom_ratio"] = 1.5 }, "is a grid"),
            ("/variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = "strong" }, "is a grid"),
            ("/upscale-alt", new JsonObject { ["parent_task_id"] = alt, ["type"] = "subtle" }, "is a hires"),
            ("/upscale-highres", new JsonObject { ["parent_task_id"] = alt, ["type"] = "4x" }, "is a hires"),
            ("/upscale-1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = "0" }, "1-based"),
            ("/upscale-1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = "5" }, "use 1-4"),
            ("/upscale-1x", new JsonObject { ["parent_task_id"] = "nope", ["index"] = "1" }, "was not found"),
            ("/pan", new JsonObject { ["parent_task_id"] = up, ["direction"] = "sideways" }, "use one of up, down, left, right"),
            ("/reroll", new JsonObject { ["parent_task_id"] = variation }, "needs an imagine"),
            ("/blend", new JsonObject { ["image_urls"] = new JsonArray("http://127.0.0.1:1/a.png") }, "2 to 5"),
            ("/describe", new JsonObject { ["image_url"] = "http://example.com/a.png" }, "AllowedImageHosts"),
            ("/imagine", new JsonObject { ["prompt"] = "" }, "must not be empty"),
            ("/imagine", new JsonObject { ["prompt"] = "x", ["aspect_ratio"] = "wide" }, "width:height"),
            ("/seed", new JsonObject(), "task_id is required"),
        };
        foreach (var (path, body, fragment) in cases)
        {
            var (status, reply) = await PostAsync(http, path, body);
            AssertError(status, reply, HttpStatusCode.BadRequest, fragment);
        }

        var (fetchStatus, fetchReply) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = "missing" });
        AssertError(fetchStatus, fetchReply, HttpStatusCode.BadRequest, "not found");
        Assert.Equal(before, server.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task LifeCycleRisesFromPendingToFinishedAndModerationFails()
    {
        var (server, http) = await StartAsync(new SandboxOptions { Timing = new SandboxTiming(TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(1.5)) });
        await using var _ = server;
        var id = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "slow" });
        var seen = new List<(string Status, int Percentage)>();
        for (var i = 0; i < 1200; i++)
        {
            var (_, reply) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = id });
            var status = reply.GetProperty("status").GetString()!;
            seen.Add((status, int.Parse(reply.GetProperty("percentage").GetString()!, System.Globalization.CultureInfo.InvariantCulture)));
            if (status == "finished")
            {
                break;
            }

            await Task.Delay(50);
        }

        Assert.Equal("pending", seen[0].Status);
        Assert.Contains(seen, s => s.Status == "processing" && s.Percentage is > 0 and < 100);
        Assert.Equal(("finished", 100), seen[^1]);
        Assert.Equal(seen.Select(s => s.Percentage).Order(), seen.Select(s => s.Percentage));

        var banned = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "a Forbidden tower" });
        var failed = await FinishedAsync(http, banned);
        Assert.Equal("failed", failed.GetProperty("status").GetString());
        Assert.Contains("forbidden", failed.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(failed.GetProperty("error").GetString(), failed.GetProperty("message").GetString());
    }

    [Fact]
    public async Task WebhooksCarryTheSecretAndTheFetchShape()
    {
        await using var sink = await WebhookSink.StartAsync();
        var received = sink.Received;
        var hook = sink.Url;

        var (server, http) = await StartAsync(new SandboxOptions { Timing = new SandboxTiming(TimeSpan.FromMilliseconds(300), TimeSpan.FromMilliseconds(1500)) });
        await using var _ = server;
        var id = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "hooked", ["webhook_url"] = hook, ["webhook_secret"] = "whsec-123" });
        for (var i = 0; i < 2400 && !received.Any(r => r.Body.GetProperty("status").GetString() == "finished"); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(received.Count >= 2, $"{received.Count} webhook calls");
        Assert.All(received, r => Assert.Equal("whsec-123", r.Secret));
        Assert.All(received, r => Assert.Equal(id, r.Body.GetProperty("task_id").GetString()));
        var last = received.Last().Body;
        Assert.Equal("finished", last.GetProperty("status").GetString());
        Assert.Equal(4, last.GetProperty("image_urls").GetArrayLength());

        var (status, reply) = await PostAsync(http, "/imagine", new JsonObject { ["prompt"] = "x", ["webhook_url"] = "https://example.com/hook" });
        AssertError(status, reply, HttpStatusCode.BadRequest, "loopback");
    }

    [Fact]
    public async Task FaultsAreRepeatableAndAFaultedSubmitCreatesNoTask()
    {
        async Task<List<int>> Run()
        {
            var faults = new SandboxFaults { Seed = 7, Submit = new FaultRates { TooManyRequests = 0.3, ServerError = 0.2 }, Fetch = new FaultRates { ServerError = 0.3 } };
            var (server, http) = await StartAsync(new SandboxOptions { Faults = faults });
            await using var _ = server;
            var statuses = new List<int>();
            var accepted = 0;
            for (var i = 0; i < 30; i++)
            {
                var (status, _) = await PostAsync(http, "/imagine", new JsonObject { ["prompt"] = "fault " + i });
                statuses.Add((int)status);
                accepted += status == HttpStatusCode.OK ? 1 : 0;
            }

            Assert.Equal(accepted, server.Counters.AcceptedSubmissions);
            Assert.Equal(30, server.Counters.Requests("/imagine"));
            return statuses;
        }

        var first = await Run();
        Assert.Equal(first, await Run());
        Assert.Contains(429, first);
        Assert.Contains(500, first);
        Assert.Contains(200, first);
    }

    [Fact]
    public async Task ARestartedSandboxKnowsAndServesEarlierTasks()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-test-" + Guid.NewGuid().ToString("N"));
        string id;
        string url;
        {
            var (server, http) = await StartAsync(new SandboxOptions { DataDirectory = dir });
            await using var _ = server;
            id = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "durable" });
            url = (await FinishedAsync(http, id)).GetProperty("image_urls")[0].GetString()!;
        }

        var (again, http2) = await StartAsync(new SandboxOptions { DataDirectory = dir });
        await using var __ = again;
        var reply = await FinishedAsync(http2, id);
        Assert.Equal("finished", reply.GetProperty("status").GetString());
        var newUrl = reply.GetProperty("image_urls")[0].GetString()!;
        Assert.StartsWith(again.BaseUrl.ToString(), newUrl, StringComparison.Ordinal);
        Assert.Equal(new Uri(url).AbsolutePath, new Uri(newUrl).AbsolutePath);
        Assert.Equal((1024, 1024), PngCodec.ReadSize(await http2.GetByteArrayAsync(new Uri(newUrl))));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task ImagesAreDeterministicForTheSameRequest()
    {
        var (server, http) = await StartAsync();
        await using var _ = server;
        var a = await FinishedAsync(http, await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "same" }));
        var b = await FinishedAsync(http, await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "same" }));
        async Task<ulong> Hash(JsonElement task) => Pictures.PixelHash(PngCodec.Decode(await http.GetByteArrayAsync(new Uri(task.GetProperty("original_image_url").GetString()!))));
        Assert.Equal(await Hash(a), await Hash(b));
        var blend = await FinishedAsync(http, await SubmitAsync(http, "/blend", new JsonObject { ["image_urls"] = new JsonArray(a.GetProperty("image_urls")[0].GetString(), a.GetProperty("image_urls")[1].GetString(), b.GetProperty("image_urls")[2].GetString()), ["dimension"] = "portrait" }));
        Assert.Equal((768, 1024), PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(blend.GetProperty("image_urls")[0].GetString()!))));
    }

    [Fact]
    public async Task OldTasksAreEvictedPastTheStorageLimit()
    {
        var dir = Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-evict-" + Guid.NewGuid().ToString("N"));
        var (server, http) = await StartAsync(new SandboxOptions { DataDirectory = dir, CandidateSize = 128, MaxStorageBytes = 400_000, MinRetention = TimeSpan.Zero });
        await using var _ = server;
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            var id = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "evict " + i });
            await FinishedAsync(http, id);
            ids.Add(id);
        }

        var (status, reply) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = ids[0] });
        AssertError(status, reply, HttpStatusCode.BadRequest, "not found");
        Assert.Equal("finished", (await FinishedAsync(http, ids[^1])).GetProperty("status").GetString());
        // Eviction follows the last render; on a loaded machine give it a moment.
        long bytes = 0;
        for (var wait = 0; wait < 100; wait++)
        {
            bytes = Directory.EnumerateFiles(Path.Combine(dir, "images"), "*.png", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
            if (bytes <= 400_000)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.True(bytes <= 400_000, $"{bytes} bytes kept");
    }
}
