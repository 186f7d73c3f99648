using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Imaging;
using MjMcp.Rules;

namespace MjMcp.Sandbox.Tests;

/// <summary>With <see cref="SandboxOptions.Spec"/> set, the sandbox also serves the operations a spec adds, from the spec alone.</summary>
public sealed class SpecServedTests
{
    private const int Side = 256;

    private static readonly IReadOnlyList<ParamRule> CommonParams =
    [
        Param("webhook_url", ParamKind.Url),
        Param("webhook_secret", ParamKind.String),
    ];

    /// <summary>/remix: an upscaled parent, a required mode light|heavy, a new grid.</summary>
    private static readonly OperationRule Remix = new(
        "remix", "remix", "RemixAsync", "/remix", ["remix"], 5, "Remix an upscaled image into a new grid.", "grid", true,
        [new("upscaled", "From an upscaled image.", new ParentRule(["upscaled"], [], "parent_task_id"), [Param("mode", ParamKind.Enum, required: true, values: ["light", "heavy"]), Param("prompt", ParamKind.String, minLength: 1)])]);

    /// <summary>/poster: a grid parent and a required index 1-4, a NEW one-image stage.</summary>
    private static readonly OperationRule Poster = new(
        "poster", "poster", "PosterAsync", "/poster", ["poster-*"], 3, "Make a poster of one grid image.", "poster", true,
        [new("grid", "From a grid image.", new ParentRule(["grid"], [], "parent_task_id"), [Param("index", ParamKind.Int, required: true, min: 1, max: 4, wireAsString: true)])]);

    /// <summary>/frame: like /poster, but only from a grid made by imagine.</summary>
    private static readonly OperationRule Frame = new(
        "frame", "frame", "FrameAsync", "/frame", ["frame"], 3, "Frame one image of an imagine grid.", "poster", true,
        [new("grid", "From an imagine grid.", new ParentRule(["grid"], ["imagine"], "parent_task_id"), [Param("index", ParamKind.Int, required: true, min: 1, max: 4, wireAsString: true)])]);

    /// <summary>/caption: no parent, a required prompt, a result with a text and a list field.</summary>
    private static readonly OperationRule Caption = new(
        "caption", "caption", "CaptionAsync", "/caption", ["caption"], 1, "Caption a prompt.", "caption", false,
        [new("default", "From a prompt.", null, [Param("prompt", ParamKind.String, required: true, minLength: 1)])]);

    private static readonly StageRule PosterStage = new("poster", "PosterTask", 1, "A poster.");

    private static readonly ResultRule CaptionResult = new("caption", "CaptionResult", "A caption.", [new("caption", "caption", false, "The caption."), new("tags", "tags", true, "Tags.")]);

    /// <summary>A small hand-made rule set: only the added operations (the sandbox's own tasks are known by their stage).</summary>
    private static SpecRules Small() => new(
        new ProviderRule("test", "http://127.0.0.1/", "Authorization", string.Empty, "/fetch", "/fetch-many", 2, 20, "/account",
            [new("pending", ["pending"]), new("running", ["processing"]), new("finished", ["finished"]), new("failed", ["failed"])], CommonParams),
        [new("grid", "GridTask", 4, "A grid."), new("upscaled", "UpscaledTask", 1, "An upscaled image."), PosterStage],
        [CaptionResult],
        [Remix, Poster, Frame, Caption]);

    /// <summary>The real spec's table plus the added operations.</summary>
    private static SpecRules Extended() => MidjourneySpec.Rules with
    {
        Stages = [.. MidjourneySpec.Rules.Stages, PosterStage],
        Results = [.. MidjourneySpec.Rules.Results, CaptionResult],
        Operations = [.. MidjourneySpec.Rules.Operations, Remix, Poster, Frame, Caption],
    };

    private static ParamRule Param(string wire, ParamKind kind, bool required = false, IReadOnlyList<string>? values = null, double? min = null, double? max = null, int? minLength = null, bool wireAsString = false) =>
        new(wire, wire, kind, required, Secret: false, Summary: "the " + wire + ".", Default: null, Values: values ?? [], Min: min, Max: max, MinLength: minLength, MaxLength: null, MinItems: null, MaxItems: null, Pattern: null, WireAsString: wireAsString);

    private static async Task<(SandboxServer Server, HttpClient Http)> StartAsync(SpecRules? spec, SandboxTiming? timing = null)
    {
        var server = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "key-1", Spec = spec, CandidateSize = Side, Timing = timing ?? SandboxTiming.Instant });
        var http = new HttpClient { BaseAddress = server.BaseUrl };
        http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer key-1");
        return (server, http);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, string Text)> PostAsync(HttpClient http, string path, JsonObject body)
    {
        using var response = await http.PostAsync(path.TrimStart('/'), new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), text);
    }

    private static async Task<string> SubmitAsync(HttpClient http, string path, JsonObject body)
    {
        var (status, reply, text) = await PostAsync(http, path, body);
        Assert.True(status == HttpStatusCode.OK, $"{path} {body.ToJsonString()} → {status} {text}");
        return reply.GetProperty("task_id").GetString()!;
    }

    private static async Task<JsonElement> FinishedAsync(HttpClient http, string taskId)
    {
        for (var i = 0; i < 2400; i++)
        {
            var (_, reply, _) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = taskId });
            if (reply.GetProperty("status").GetString() is "finished" or "failed")
            {
                return reply;
            }

            await Task.Delay(25);
        }

        throw new TimeoutException(taskId);
    }

    private static async Task<JsonElement> AccountAsync(HttpClient http)
    {
        using var response = await http.GetAsync("account");
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static async Task<RgbaImage> ImageAsync(HttpClient http, JsonElement url)
    {
        var bytes = await http.GetByteArrayAsync(new Uri(url.GetString()!));
        Assert.True(bytes.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), "PNG signature");
        return PngCodec.Decode(bytes);
    }

    private static void AssertError(HttpStatusCode status, JsonElement body, string fragment)
    {
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var message = body.GetProperty("message").GetString()!;
        Assert.Equal(message, body.GetProperty("errors")[0].GetProperty("msg").GetString());
        Assert.Contains(fragment, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddedOperationsFinishWithTheirStagesRealImagesAndResults()
    {
        foreach (var spec in new[] { Small(), Extended() })
        {
            var (server, http) = await StartAsync(spec);
            await using var running = server;
            Assert.Equal(new[] { "/remix", "/poster", "/frame", "/caption" }, server.SpecServedPaths);
            var imagine = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "a lighthouse in fog" });
            await FinishedAsync(http, imagine);
            var upscaled = await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "2" });
            await FinishedAsync(http, upscaled);

            // (a) /remix: a grid, shaped like every grid of the provider.
            var remixId = await SubmitAsync(http, "/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "heavy" });
            var remix = await FinishedAsync(http, remixId);
            Assert.Equal("finished", remix.GetProperty("status").GetString());
            Assert.Equal("100", remix.GetProperty("percentage").GetString());
            Assert.Equal("remix", remix.GetProperty("task_type").GetString());
            Assert.Equal(4, remix.GetProperty("image_urls").GetArrayLength());
            Assert.False(remix.TryGetProperty("image_url", out _));
            foreach (var url in remix.GetProperty("image_urls").EnumerateArray())
            {
                var candidate = await ImageAsync(http, url);
                Assert.Equal((Side, Side), (candidate.Width, candidate.Height));
            }

            var grid = await ImageAsync(http, remix.GetProperty("original_image_url"));
            Assert.Equal((2 * Side, 2 * Side), (grid.Width, grid.Height));
            Assert.Equal(Pictures.PixelHash(Pictures.Quadrant(grid, 3)), Pictures.PixelHash(await ImageAsync(http, remix.GetProperty("image_urls")[2])));

            // The same request renders the same images; a different mode renders others.
            var again = await FinishedAsync(http, await SubmitAsync(http, "/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "heavy" }));
            Assert.Equal(Pictures.PixelHash(grid), Pictures.PixelHash(await ImageAsync(http, again.GetProperty("original_image_url"))));
            var light = await FinishedAsync(http, await SubmitAsync(http, "/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "light" }));
            Assert.NotEqual(Pictures.PixelHash(grid), Pictures.PixelHash(await ImageAsync(http, light.GetProperty("original_image_url"))));

            // (b) /poster: one image of the new stage, from the sandbox's own grid and from a spec-made grid.
            foreach (var parent in new[] { imagine, remixId })
            {
                var poster = await FinishedAsync(http, await SubmitAsync(http, "/poster", new JsonObject { ["parent_task_id"] = parent, ["index"] = 4 }));
                Assert.Equal("poster-4", poster.GetProperty("task_type").GetString());
                Assert.False(poster.TryGetProperty("image_urls", out _));
                var image = await ImageAsync(http, poster.GetProperty("image_url"));
                Assert.Equal((Side, Side), (image.Width, image.Height));
            }

            // A spec-made image task is a parent like any other: /seed takes the hand-written grid, /frame an imagine grid.
            var frame = await FinishedAsync(http, await SubmitAsync(http, "/frame", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "1" }));
            Assert.Equal("frame", frame.GetProperty("task_type").GetString());
            Assert.Equal((Side, Side), PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(frame.GetProperty("image_url").GetString()!))));

            // (c) /caption: a result with its declared fields.
            var captionId = await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "a lighthouse in fog" });
            var caption = await FinishedAsync(http, captionId);
            Assert.Equal("caption", caption.GetProperty("task_type").GetString());
            Assert.Contains("lighthouse", caption.GetProperty("caption").GetString(), StringComparison.Ordinal);
            Assert.Equal(4, caption.GetProperty("tags").GetArrayLength());
            Assert.False(caption.TryGetProperty("image_url", out _));
            Assert.False(caption.TryGetProperty("image_urls", out _));
            Assert.Equal(caption.GetProperty("caption").GetString(), (await FinishedAsync(http, await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "a lighthouse in fog" }))).GetProperty("caption").GetString());

            // /fetch-many returns them like any other task.
            var (status, many, _) = await PostAsync(http, "/fetch-many", new JsonObject { ["task_ids"] = new JsonArray(imagine, remixId, captionId) });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(new[] { "imagine", "remix", "caption" }, many.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("task_type").GetString()));
            Assert.All(many.GetProperty("tasks").EnumerateArray(), t => Assert.Equal("finished", t.GetProperty("status").GetString()));

            // Credits: imagine 4, upscale-1x 2, remix 5 x3, poster 3 x2, frame 3, caption 1 x2.
            Assert.Equal(10_000 - 4 - 2 - 15 - 6 - 3 - 2, (await AccountAsync(http)).GetProperty("credits").GetInt64());
            Assert.Equal(10, server.Counters.AcceptedSubmissions);
        }
    }

    [Fact]
    public async Task WrongParentsAreRefusedLikeTheProviderWithoutTaskOrCredits()
    {
        foreach (var spec in new[] { Small(), Extended() })
        {
            var (server, http) = await StartAsync(spec);
            await using var running = server;
            var imagine = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "parents" });
            await FinishedAsync(http, imagine);
            var upscaled = await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "1" });
            await FinishedAsync(http, upscaled);
            var remix = await SubmitAsync(http, "/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "light" });
            await FinishedAsync(http, remix);
            var poster = await SubmitAsync(http, "/poster", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "1" });
            await FinishedAsync(http, poster);
            var caption = await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "words" });
            await FinishedAsync(http, caption);
            var banned = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "a forbidden gate" });
            Assert.Equal("failed", (await FinishedAsync(http, banned)).GetProperty("status").GetString());
            var account = await AccountAsync(http);
            var accepted = server.Counters.AcceptedSubmissions;

            var cases = new (string Path, JsonObject Body, string Fragment)[]
            {
                ("/remix", new JsonObject { ["parent_task_id"] = imagine, ["mode"] = "light" }, $"parent_task_id '{imagine}' is a grid (task_type imagine); /remix needs an upscaled task: call /upscale-1x on it first."),
                ("/remix", new JsonObject { ["parent_task_id"] = remix, ["mode"] = "light" }, "is a grid (task_type remix)"),
                ("/remix", new JsonObject { ["parent_task_id"] = poster, ["mode"] = "light" }, "is a poster (task_type poster-1); /remix needs an upscaled task."),
                ("/poster", new JsonObject { ["parent_task_id"] = upscaled, ["index"] = "1" }, "is an upscaled (task_type upscale#1); /poster needs a grid task"),
                ("/poster", new JsonObject { ["parent_task_id"] = caption, ["index"] = "1" }, "is not an image task"),
                ("/poster", new JsonObject { ["parent_task_id"] = banned, ["index"] = "1" }, "failed; /poster cannot use it"),
                ("/frame", new JsonObject { ["parent_task_id"] = remix, ["index"] = "1" }, "is a grid made by remix (task_type remix); /frame needs a grid task made by imagine."),
                ("/remix", new JsonObject { ["parent_task_id"] = "no-such-task", ["mode"] = "light" }, "parent_task_id 'no-such-task' was not found."),
                ("/poster", new JsonObject { ["index"] = "1" }, "parent_task_id is required: the task_id of a finished grid task."),
            };
            foreach (var (path, body, fragment) in cases)
            {
                var (status, reply, _) = await PostAsync(http, path, body);
                AssertError(status, reply, fragment);
            }

            Assert.Equal(accepted, server.Counters.AcceptedSubmissions);
            Assert.Equal(account.GetProperty("credits").GetInt64(), (await AccountAsync(http)).GetProperty("credits").GetInt64());
            Assert.Equal(account.GetProperty("total_images").GetInt64(), (await AccountAsync(http)).GetProperty("total_images").GetInt64());
        }
    }

    [Fact]
    public async Task ParametersAreCheckedAgainstTheFormWithoutTaskOrCredits()
    {
        var (server, http) = await StartAsync(Small());
        await using var running = server;
        var imagine = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "params" });
        await FinishedAsync(http, imagine);
        var upscaled = await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "3" });
        await FinishedAsync(http, upscaled);
        var credits = (await AccountAsync(http)).GetProperty("credits").GetInt64();
        var accepted = server.Counters.AcceptedSubmissions;

        var cases = new (string Path, JsonObject Body, string Fragment)[]
        {
            ("/remix", new JsonObject { ["parent_task_id"] = upscaled }, "'mode' is required"),
            ("/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "medium" }, "'mode' must be one of light, heavy; got 'medium'."),
            ("/remix", new JsonObject { ["parent_task_id"] = upscaled, ["mode"] = "light", ["prompt"] = "  " }, "'prompt' must not be empty."),
            ("/poster", new JsonObject { ["parent_task_id"] = imagine }, "'index' is required"),
            ("/poster", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "5" }, "out of range from 1 to 4"),
            ("/poster", new JsonObject { ["parent_task_id"] = imagine, ["index"] = 0 }, "Indexes are 1-based"),
            ("/poster", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "two" }, "'index' must be a number"),
            ("/caption", new JsonObject(), "'prompt' is required"),
            ("/caption", new JsonObject { ["prompt"] = 42 }, "'prompt' must be a string."),
            ("/caption", new JsonObject { ["prompt"] = "x", ["webhook_url"] = "ftp://127.0.0.1/hook" }, "'webhook_url' must be an absolute http:// or https:// URL"),
            ("/caption", new JsonObject { ["prompt"] = "x", ["webhook_url"] = "https://example.com/hook" }, "loopback"),
        };
        foreach (var (path, body, fragment) in cases)
        {
            var (status, reply, _) = await PostAsync(http, path, body);
            AssertError(status, reply, fragment);
        }

        // Not JSON / not an object, and no key: the same answers as the hand-written endpoints.
        using (var notJson = await http.PostAsync("caption", new StringContent("[1]", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        }

        using (var raw = new HttpClient { BaseAddress = server.BaseUrl })
        using (var unauthorized = await raw.PostAsync("caption", new StringContent("""{"prompt":"x"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, unauthorized.StatusCode);
        }

        Assert.Equal(accepted, server.Counters.AcceptedSubmissions);
        Assert.Equal(credits, (await AccountAsync(http)).GetProperty("credits").GetInt64());
        Assert.Equal(cases.Length + 2, server.Counters.Requests("/remix") + server.Counters.Requests("/poster") + server.Counters.Requests("/caption"));
    }

    [Fact]
    public async Task TheFormIsChosenByTheParentsStageOrIsTheOneWithoutAParent()
    {
        // /restyle: a grid form (index 1-4), an upscaled form (strength strong|subtle), and a form without a parent (prompt).
        var restyle = new OperationRule(
            "restyle", "restyle", "RestyleAsync", "/restyle", ["restyle-*"], 2, "Restyle.", "grid", true,
            [
                new("grid", "One grid image.", new ParentRule(["grid"], [], "parent_task_id"), [Param("index", ParamKind.Int, required: true, min: 1, max: 4, wireAsString: true)]),
                new("upscaled", "An upscaled image.", new ParentRule(["upscaled"], [], "parent_task_id"), [Param("strength", ParamKind.Enum, required: true, values: ["strong", "subtle"])]),
                new("fresh", "From a prompt alone.", null, [Param("prompt", ParamKind.String, required: true, minLength: 1)]),
            ]);
        var (server, http) = await StartAsync(Small() with { Operations = [restyle] });
        await using var running = server;
        var imagine = await SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "forms" });
        await FinishedAsync(http, imagine);
        var upscaled = await SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "4" });
        await FinishedAsync(http, upscaled);

        var fromGrid = await FinishedAsync(http, await SubmitAsync(http, "/restyle", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "2" }));
        Assert.Equal("restyle-2", fromGrid.GetProperty("task_type").GetString());
        var fromUpscaled = await FinishedAsync(http, await SubmitAsync(http, "/restyle", new JsonObject { ["parent_task_id"] = upscaled, ["strength"] = "subtle" }));
        Assert.Equal("restyle-subtle", fromUpscaled.GetProperty("task_type").GetString());
        var fresh = await FinishedAsync(http, await SubmitAsync(http, "/restyle", new JsonObject { ["prompt"] = "a new start" }));
        Assert.Equal("restyle-1", fresh.GetProperty("task_type").GetString());
        Assert.Equal((2 * Side, 2 * Side), PngCodec.ReadSize(await http.GetByteArrayAsync(new Uri(fresh.GetProperty("original_image_url").GetString()!))));

        // The parent's stage picks the form, so the other form's parameter does not help.
        var (status, reply, _) = await PostAsync(http, "/restyle", new JsonObject { ["parent_task_id"] = upscaled, ["index"] = "2" });
        AssertError(status, reply, "'strength' is required");
        (status, reply, _) = await PostAsync(http, "/restyle", new JsonObject { ["parent_task_id"] = imagine, ["strength"] = "strong" });
        AssertError(status, reply, "'index' is required");
        (status, reply, _) = await PostAsync(http, "/restyle", new JsonObject());
        AssertError(status, reply, "'prompt' is required");
        Assert.Equal(5, server.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task SpecTasksFollowTheLifeCycleAndModeration()
    {
        var (server, http) = await StartAsync(Small(), new SandboxTiming(TimeSpan.FromSeconds(3), TimeSpan.FromMilliseconds(900)));
        await using var running = server;
        var id = await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "slow words" });
        var (_, first, _) = await PostAsync(http, "/fetch", new JsonObject { ["task_id"] = id });
        Assert.Equal("pending", first.GetProperty("status").GetString());
        Assert.False(first.TryGetProperty("caption", out _));
        Assert.Equal("finished", (await FinishedAsync(http, id)).GetProperty("status").GetString());

        var banned = await FinishedAsync(http, await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "a Forbidden word" }));
        Assert.Equal("failed", banned.GetProperty("status").GetString());
        Assert.Contains("forbidden", banned.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task WithoutASpecAddedPathsAreNotServed()
    {
        var (server, http) = await StartAsync(spec: null);
        await using var running = server;
        Assert.Empty(server.SpecServedPaths);
        using var response = await http.PostAsync("caption", new StringContent("""{"prompt":"x"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task HandWrittenOperationsAnswerExactlyAsBeforeWhenTheSpecAlsoDeclaresThem()
    {
        var without = await TranscriptAsync(spec: null);
        var with = await TranscriptAsync(Extended());
        Assert.Equal(without.Count, with.Count);
        for (var i = 0; i < without.Count; i++)
        {
            Assert.Equal(without[i], with[i]);
        }

        Assert.Contains(without, line => line.StartsWith("/pan 400", StringComparison.Ordinal) && line.Contains("call /upscale-1x on it first", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheStandaloneSandboxTakesASpecThroughItsLoader()
    {
        var file = Path.Combine(Path.GetTempPath(), "mjmcp-spec-" + Guid.NewGuid().ToString("N") + ".yaml");
        var dir = Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-cmd-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(file, "operations: {}\n");
        var previous = SandboxCommand.SpecLoader;
        try
        {
            // No loader: a clear one-line error and exit code 2, no stack trace.
            SandboxCommand.SpecLoader = null;
            using (var output = new StringWriter())
            using (var error = new StringWriter())
            {
                Assert.Equal(2, await SandboxCommand.RunAsync(["--port", "0", "--spec", file], output, error, CancellationToken.None));
                Assert.Contains("--spec needs a spec loader", error.ToString(), StringComparison.Ordinal);
                Assert.DoesNotContain("   at ", error.ToString(), StringComparison.Ordinal);
                Assert.Equal(string.Empty, output.ToString());
            }

            // A loader that fails, a missing file, a missing value: exit code 2 with the reason.
            SandboxCommand.SpecLoader = _ => throw new InvalidDataException("line 1: operations must not be empty");
            foreach (var (args, fragment) in new[] { (new[] { "--spec", file }, "line 1: operations must not be empty"), (new[] { "--spec", file + ".missing" }, "does not exist"), (new[] { "--spec" }, "--spec needs a value") })
            {
                using var error = new StringWriter();
                Assert.Equal(2, await SandboxCommand.RunAsync(args, TextWriter.Null, error, CancellationToken.None));
                Assert.Contains(fragment, error.ToString(), StringComparison.Ordinal);
            }

            // A loader that works: the spec's operations are served.
            string? loaded = null;
            SandboxCommand.SpecLoader = path =>
            {
                loaded = path;
                return Small();
            };
            using var stop = new CancellationTokenSource();
            var writer = new StringWriter();
            var synchronized = TextWriter.Synchronized(writer);
            var run = SandboxCommand.RunAsync(["--port", "0", "--data-dir", dir, "--api-key", "key-1", "--spec", file], synchronized, TextWriter.Null, stop.Token);
            string? url = null;
            for (var i = 0; i < 2400 && url is null && !run.IsCompleted; i++)
            {
                string text;
                lock (synchronized)
                {
                    text = writer.ToString();
                }

                var at = text.IndexOf("listening on ", StringComparison.Ordinal);
                url = at < 0 ? null : text[(at + 13)..].Trim();
                await Task.Delay(25);
            }

            Assert.NotNull(url);
            Assert.Equal(file, loaded);
            using (var http = new HttpClient { BaseAddress = new Uri(url) })
            {
                http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "key-1");
                var caption = await FinishedAsync(http, await SubmitAsync(http, "/caption", new JsonObject { ["prompt"] = "from the command line" }));
                Assert.Contains("command line", caption.GetProperty("caption").GetString(), StringComparison.Ordinal);
            }

            await stop.CancelAsync();
            Assert.Equal(0, await run);
        }
        finally
        {
            SandboxCommand.SpecLoader = previous;
            File.Delete(file);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    /// <summary>Every hand-written endpoint, good and bad calls, as text with task ids and the base URL replaced by labels.</summary>
    private static async Task<List<string>> TranscriptAsync(SpecRules? spec)
    {
        var (server, http) = await StartAsync(spec);
        await using var running = server;
        Assert.Equal(spec is null ? [] : new[] { "/remix", "/poster", "/frame", "/caption" }, server.SpecServedPaths);
        var lines = new List<string>();
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        string Normalize(string text)
        {
            foreach (var (id, label) in labels)
            {
                text = text.Replace(id, label, StringComparison.Ordinal);
            }

            return text.Replace(server.BaseUrl.ToString(), "BASE/", StringComparison.Ordinal);
        }

        async Task<string> Call(string path, JsonObject body)
        {
            var (status, reply, text) = await PostAsync(http, path, body);
            var id = status == HttpStatusCode.OK && reply.TryGetProperty("task_id", out var value) ? value.GetString()! : string.Empty;
            if (id.Length > 0)
            {
                labels[id] = "T" + labels.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var finished = await FinishedAsync(http, id);
                lines.Add($"{path} {(int)status} {Normalize(text)} {Normalize(finished.GetRawText())}");
            }
            else
            {
                lines.Add($"{path} {(int)status} {Normalize(text)}");
            }

            return id;
        }

        var imagine = await Call("/imagine", new JsonObject { ["prompt"] = "a quiet harbour", ["aspect_ratio"] = "3:2" });
        var grid = (await FinishedAsync(http, imagine)).GetProperty("image_urls");
        lines.Add("grid pixels " + Pictures.PixelHash(await ImageAsync(http, grid[0])).ToString(System.Globalization.CultureInfo.InvariantCulture));
        await Call("/reroll", new JsonObject { ["parent_task_id"] = imagine });
        var variation = await Call("/variations", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "2" });
        var upscaled = await Call("/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = 1 });
        await Call("/variations", new JsonObject { ["parent_task_id"] = upscaled, ["index"] = "subtle" });
        var alt = await Call("/upscale-alt", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "creative" });
        await Call("/upscale-highres", new JsonObject { ["parent_task_id"] = upscaled, ["type"] = "2x" });
        await Call("/pan", new JsonObject { ["parent_task_id"] = upscaled, ["direction"] = "up" });
        await Call("/outpaint", new JsonObject { ["parent_task_id"] = upscaled, ["zoom_ratio"] = 2 });
        var mask = new RgbaImage(8, 8);
        Array.Fill(mask.Pixels, (byte)255);
        await Call("/inpaint", new JsonObject { ["parent_task_id"] = upscaled, ["mask"] = Convert.ToBase64String(PngCodec.Encode(mask)) });
        await Call("/seed", new JsonObject { ["task_id"] = imagine });
        await Call("/describe", new JsonObject { ["image_url"] = grid[0].GetString() });
        await Call("/blend", new JsonObject { ["image_urls"] = new JsonArray(grid[0].GetString(), grid[1].GetString()) });
        await Call("/faceswap", new JsonObject { ["target_image_url"] = grid[0].GetString(), ["swap_image_url"] = grid[1].GetString() });
        await Call("/shorten", new JsonObject { ["prompt"] = "a really beautiful harbour with some boats" });
        await Call("/imagine", new JsonObject { ["prompt"] = "a forbidden harbour" });

        await Call("/pan", new JsonObject { ["parent_task_id"] = imagine, ["direction"] = "left" });
        await Call("/reroll", new JsonObject { ["parent_task_id"] = variation });
        await Call("/upscale-alt", new JsonObject { ["parent_task_id"] = alt, ["type"] = "subtle" });
        await Call("/upscale-1x", new JsonObject { ["parent_task_id"] = imagine, ["index"] = "0" });
        await Call("/upscale-1x", new JsonObject { ["parent_task_id"] = "nope", ["index"] = "1" });
        await Call("/variations", new JsonObject { ["parent_task_id"] = imagine });
        await Call("/imagine", new JsonObject { ["prompt"] = "x", ["aspect_ratio"] = "wide" });
        await Call("/seed", new JsonObject());
        await Call("/fetch-many", new JsonObject { ["task_ids"] = new JsonArray(imagine, upscaled) });
        lines.Add("account " + Normalize((await AccountAsync(http)).GetRawText()));
        lines.Add("accepted " + server.Counters.AcceptedSubmissions.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return lines;
    }
}
