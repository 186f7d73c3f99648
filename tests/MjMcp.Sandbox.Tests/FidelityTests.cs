using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>Provider fidelity: the documented extended statuses, strict error bodies, describe's image_url and the credit table.</summary>
public sealed class FidelityTests
{
    private static readonly string[] Extended = ["staged", "starting", "retrying"];

    [Fact]
    public async Task ExtendedStatusesAppearInFetchAndFetchManyWithAFixedSeed()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions
        {
            // Phases long enough that a loaded machine's polls (2 cores shared with other suites) still see every status.
            Timing = new SandboxTiming(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4)),
            ExtendedStatuses = true,
            StatusSeed = 7,
            CandidateSize = 64,
        });
        await using var _ = server;
        using var __ = http;
        var ids = new List<string>();
        for (var i = 0; i < 16; i++)
        {
            ids.Add(await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = $"status {i}" }));
        }

        var fetched = new HashSet<string>(StringComparer.Ordinal);
        var many = new HashSet<string>(StringComparer.Ordinal);
        var perTask = ids.ToDictionary(id => id, _ => new List<(string Status, int Percentage)>(), StringComparer.Ordinal);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (perTask.Values.Any(s => s.Count == 0 || s[^1].Status != "finished") && DateTime.UtcNow < deadline)
        {
            var replies = await Task.WhenAll(ids.Select(id => Wire.PostAsync(http, "/fetch", new JsonObject { ["task_id"] = id })));
            foreach (var (status, reply) in replies)
            {
                Assert.Equal(HttpStatusCode.OK, status);
                var state = reply.GetProperty("status").GetString()!;
                fetched.Add(state);
                perTask[reply.GetProperty("task_id").GetString()!].Add((state, int.Parse(reply.GetProperty("percentage").GetString()!, System.Globalization.CultureInfo.InvariantCulture)));
            }

            var (manyStatus, manyReply) = await Wire.PostAsync(http, "/fetch-many", new JsonObject { ["task_ids"] = new JsonArray([.. ids.Take(20).Select(id => (JsonNode)id)]) });
            Assert.Equal(HttpStatusCode.OK, manyStatus);
            foreach (var task in manyReply.GetProperty("tasks").EnumerateArray())
            {
                many.Add(task.GetProperty("status").GetString()!);
            }

            await Task.Delay(20);
        }

        Assert.All(perTask.Values, seen => Assert.Equal(("finished", 100), seen[^1]));
        foreach (var status in Extended.Concat(["pending", "processing", "finished"]))
        {
            Assert.True(fetched.Contains(status), $"/fetch never said {status}: {string.Join(", ", fetched)}");
            Assert.True(many.Contains(status), $"/fetch-many never said {status}: {string.Join(", ", many)}");
        }

        // Each task: pending first, then queue statuses in the documented order, then running ones; percentages never fall.
        string[] order = ["pending", "staged", "starting"];
        foreach (var seen in perTask.Values)
        {
            Assert.Equal("pending", seen[0].Status);
            var queue = seen.Select(s => Array.IndexOf(order, s.Status)).Where(i => i >= 0).ToList();
            Assert.Equal(queue.Order(), queue);
            Assert.Equal(seen.Select(s => s.Percentage).Order(), seen.Select(s => s.Percentage));
        }
    }

    [Fact]
    public async Task RealisticTimingImpliesExtendedStatusesAndTheDefaultDoesNot()
    {
        foreach (var (options, expectExtended) in new[]
        {
            (new SandboxOptions { Timing = SandboxTiming.Realistic, StatusSeed = 7, CandidateSize = 64 }, true),
            (new SandboxOptions { Timing = SandboxTiming.Realistic with { }, CandidateSize = 64 }, true),
            (new SandboxOptions { Timing = new SandboxTiming(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(24)), CandidateSize = 64 }, false),
        })
        {
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            options.TimeProvider = clock;
            var (server, http) = await Wire.StartAsync(options);
            await using var _ = server;
            using var __ = http;
            var ids = new JsonArray();
            for (var i = 0; i < 12; i++)
            {
                ids.Add(await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = $"realistic {i}" }));
            }

            var seen = new HashSet<string>(StringComparer.Ordinal);
            var total = options.Timing.Queued + options.Timing.Running;
            for (var t = TimeSpan.Zero; t <= total + TimeSpan.FromSeconds(1); t += TimeSpan.FromMilliseconds(100))
            {
                var (_, reply) = await Wire.PostAsync(http, "/fetch-many", new JsonObject { ["task_ids"] = ids.DeepClone() });
                foreach (var task in reply.GetProperty("tasks").EnumerateArray())
                {
                    seen.Add(task.GetProperty("status").GetString()!);
                }

                clock.Advance(TimeSpan.FromMilliseconds(100));
            }

            // The render itself is not on the fake clock: wait (generously) for every task to be made.
            foreach (var id in ids)
            {
                Assert.Equal("finished", (await Wire.FinishedAsync(http, id!.GetValue<string>())).GetProperty("status").GetString());
            }

            foreach (var status in Extended)
            {
                Assert.True(expectExtended == seen.Contains(status), $"seed {options.StatusSeed}: {status} in {string.Join(", ", seen)}");
            }
        }
    }

    [Fact]
    public async Task WebhooksCarryTheExtendedStatuses()
    {
        await using var sink = await WebhookSink.StartAsync();
        var received = sink.Bodies;
        var hook = sink.Url;

        var (server, http) = await Wire.StartAsync(new SandboxOptions
        {
            // Phases long enough that a loaded machine's polls (2 cores shared with other suites) still see every status.
            Timing = new SandboxTiming(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(4)),
            ExtendedStatuses = true,
            StatusSeed = 7,
            CandidateSize = 64,
        });
        await using var _ = server;
        using var __ = http;
        var ids = new List<string>();
        for (var i = 0; i < 12; i++)
        {
            ids.Add(await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = $"hooked {i}", ["webhook_url"] = hook }));
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (received.Count(r => r.GetProperty("status").GetString() == "finished") < ids.Count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }

        var statuses = received.Select(r => r.GetProperty("status").GetString()!).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(ids.Count, received.Count(r => r.GetProperty("status").GetString() == "finished"));
        foreach (var status in Extended)
        {
            Assert.True(statuses.Contains(status), $"no webhook said {status}: {string.Join(", ", statuses)}");
        }
    }

    [Fact]
    public async Task StrictErrorBodiesAreExactlyTheDocumentedOnes()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions { ApiKey = "key-1", Strict = true, CandidateSize = 64 });
        await using var _ = server;
        using var __ = http;
        var grid = await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "strict" });
        Assert.Equal("finished", (await Wire.FinishedAsync(http, grid)).GetProperty("status").GetString());

        // 400: only errors[].msg.
        var (status, body) = await RawAsync(http, "/pan", new JsonObject { ["parent_task_id"] = grid, ["direction"] = "left" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        using (var document = JsonDocument.Parse(body))
        {
            var root = document.RootElement;
            Assert.Equal(["errors"], root.EnumerateObject().Select(p => p.Name));
            var error = Assert.Single(root.GetProperty("errors").EnumerateArray());
            Assert.Equal(["msg"], error.EnumerateObject().Select(p => p.Name));
            Assert.Contains("upscale-1x", error.GetProperty("msg").GetString(), StringComparison.Ordinal);
        }

        // 400 for a body that is no JSON object, and for an unknown task.
        var (fetchStatus, fetchBody) = await RawAsync(http, "/fetch", new JsonObject { ["task_id"] = "nope" });
        Assert.Equal(HttpStatusCode.BadRequest, fetchStatus);
        Assert.StartsWith("{\"errors\":[{\"msg\":\"Task not found", fetchBody, StringComparison.Ordinal);
        Assert.DoesNotContain("\"message\"", fetchBody, StringComparison.Ordinal);

        // 401: {}.
        using var wrong = Wire.Client(server.BaseUrl, "wrong-key");
        var (unauthorized, unauthorizedBody) = await RawAsync(wrong, "/imagine", new JsonObject { ["prompt"] = "x" });
        Assert.Equal(HttpStatusCode.Unauthorized, unauthorized);
        Assert.Equal("{}", unauthorizedBody);
        using var account = await wrong.GetAsync("account");
        Assert.Equal(HttpStatusCode.Unauthorized, account.StatusCode);
        Assert.Equal("{}", await account.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task TheDefaultErrorBodiesStillCarryMessage()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions { ApiKey = "key-1", CandidateSize = 64 });
        await using var _ = server;
        using var __ = http;
        var grid = await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "lenient" });
        await Wire.FinishedAsync(http, grid);
        var (status, body) = await Wire.PostAsync(http, "/pan", new JsonObject { ["parent_task_id"] = grid, ["direction"] = "left" });
        Wire.AssertError(status, body, HttpStatusCode.BadRequest, "upscale-1x");
        using var wrong = Wire.Client(server.BaseUrl, "wrong-key");
        var (unauthorized, unauthorizedBody) = await Wire.PostAsync(wrong, "/imagine", new JsonObject { ["prompt"] = "x" });
        Wire.AssertError(unauthorized, unauthorizedBody, HttpStatusCode.Unauthorized, "API key");
    }

    [Fact]
    public async Task FinishedDescribeCarriesTheDescribedImageUrlInFetchAndWebhooks()
    {
        await using var sink = await WebhookSink.StartAsync();
        var received = sink.Bodies;
        var hook = sink.Url;

        var (server, http) = await Wire.StartAsync(new SandboxOptions { CandidateSize = 64 });
        await using var _ = server;
        using var __ = http;
        var grid = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "a described lighthouse" }));
        var url = grid.GetProperty("image_urls")[2].GetString()!;
        var id = await Wire.SubmitAsync(http, "/describe", new JsonObject { ["image_url"] = url, ["webhook_url"] = hook });
        var described = await Wire.FinishedAsync(http, id);
        Assert.Equal("finished", described.GetProperty("status").GetString());
        Assert.Equal(url, described.GetProperty("image_url").GetString());
        Assert.Equal(4, described.GetProperty("content").GetArrayLength());

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!received.Any(r => r.GetProperty("status").GetString() == "finished") && DateTime.UtcNow < deadline)
        {
            await Task.Delay(25);
        }

        var finished = received.Single(r => r.GetProperty("status").GetString() == "finished");
        Assert.Equal(url, finished.GetProperty("image_url").GetString());
    }

    [Fact]
    public void EveryHandWrittenOperationCostsTheSpecsCredits()
    {
        foreach (var row in SandboxServer.HandWritten)
        {
            var spec = MidjourneySpec.Rules.FindOperation(row.Name);
            Assert.True(spec is not null, $"the spec has no operation {row.Name}");
            Assert.True(spec.Credits == row.Credits, $"{row.Name}: the sandbox charges {row.Credits}, the spec says {spec.Credits}");
            Assert.Equal(spec.Path, row.Path);

            // Per-value credits (upscale-highres 2x 1, 4x 2): the same parameter and the same price for every value.
            Assert.Equal(spec.CreditsBy?.Wire, row.CreditsBy?.Param);
            List<(string, int)> specValues = spec.CreditsBy?.Values.Select(v => (v.Value, v.Credits)).Order().ToList() ?? [];
            List<(string, int)> rowValues = row.CreditsBy?.Values.Select(v => (v.Key, v.Value)).Order().ToList() ?? [];
            Assert.Equal(specValues, rowValues);
        }
    }

    [Fact]
    public async Task AccountCreditsFallByTheSpecsCreditsForEachOperation()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions { CandidateSize = 64 });
        await using var _ = server;
        using var __ = http;
        var spent = new Dictionary<string, long>(StringComparer.Ordinal);
        var priced = new Dictionary<string, long>(StringComparer.Ordinal);

        async Task<JsonElement> RunAsync(string operation, JsonObject body)
        {
            var before = await Wire.CreditsAsync(http);
            var key = operation + (operation == "upscale-highres" ? " " + body["type"] : string.Empty);
            priced[key] = MidjourneySpec.Rules.FindOperation(operation)!.CreditsOf(JsonSerializer.SerializeToElement(body));
            var id = await Wire.SubmitAsync(http, "/" + operation, body);
            spent[key] = before - await Wire.CreditsAsync(http);
            var reply = await Wire.FinishedAsync(http, id);
            Assert.True(reply.GetProperty("status").GetString() == "finished", $"{operation}: {reply}");
            return reply;
        }

        var mask = new RgbaImage(16, 16);
        Array.Fill(mask.Pixels, (byte)255);
        var grid = (await RunAsync("imagine", new JsonObject { ["prompt"] = "a ledger of credits" })).GetProperty("task_id").GetString()!;
        var gridReply = await Wire.FinishedAsync(http, grid);
        await RunAsync("reroll", new JsonObject { ["parent_task_id"] = grid });
        await RunAsync("variations", new JsonObject { ["parent_task_id"] = grid, ["index"] = "1" });
        var upscaled = await RunAsync("upscale-1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = "2" });
        var upscaledId = upscaled.GetProperty("task_id").GetString()!;
        await RunAsync("upscale-alt", new JsonObject { ["parent_task_id"] = upscaledId, ["type"] = "subtle" });
        await RunAsync("upscale-highres", new JsonObject { ["parent_task_id"] = upscaledId, ["type"] = "2x" });
        await RunAsync("upscale-highres", new JsonObject { ["parent_task_id"] = upscaledId, ["type"] = "4x" });
        await RunAsync("inpaint", new JsonObject { ["parent_task_id"] = upscaledId, ["mask"] = "data:image/png;base64," + Convert.ToBase64String(PngCodec.Encode(mask)) });
        await RunAsync("outpaint", new JsonObject { ["parent_task_id"] = upscaledId, ["zoom_ratio"] = "1.5" });
        await RunAsync("pan", new JsonObject { ["parent_task_id"] = upscaledId, ["direction"] = "up" });
        await RunAsync("describe", new JsonObject { ["image_url"] = upscaled.GetProperty("image_url").GetString() });
        await RunAsync("blend", new JsonObject { ["image_urls"] = new JsonArray(gridReply.GetProperty("image_urls")[0].GetString(), gridReply.GetProperty("image_urls")[1].GetString()) });
        await RunAsync("seed", new JsonObject { ["task_id"] = grid });
        await RunAsync("faceswap", new JsonObject { ["target_image_url"] = upscaled.GetProperty("image_url").GetString(), ["swap_image_url"] = gridReply.GetProperty("image_urls")[3].GetString() });
        await RunAsync("shorten", new JsonObject { ["prompt"] = "a very long and rather wordy prompt about credits" });

        Assert.Equal(SandboxServer.HandWritten.Select(o => o.Name).Order(StringComparer.Ordinal), spent.Keys.Select(k => k.Split(' ')[0]).Distinct().Order(StringComparer.Ordinal));
        Assert.Equal((1, 2), (spent["upscale-highres 2x"], spent["upscale-highres 4x"]));
        foreach (var (operation, credits) in spent)
        {
            Assert.True(priced[operation] == credits, $"{operation}: /account fell by {credits}, the spec says {priced[operation]}");
        }
    }

    private static async Task<(HttpStatusCode Status, string Body)> RawAsync(HttpClient http, string path, JsonObject body)
    {
        using var response = await http.PostAsync(path.TrimStart('/'), new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
