using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace MjMcp.Sdk.Tests;

/// <summary>The typed client against a scripted HTTP handler: wire shapes, validation, errors, secrets.</summary>
public sealed class ClientTests
{
    private static ScriptedHandler Accepting() => new(r => r.Path == "/account"
        ? ScriptedHandler.Json(HttpStatusCode.OK, """{"email":"a@b.c","credits":"120","total_images":7,"plan":"pro"}""")
        : ScriptedHandler.Json(HttpStatusCode.OK, """{"task_id":"t-1"}"""));

    private static JsonElement Body(ScriptedHandler handler) => handler.Requests.Last().Body!.Value;

    [Fact]
    public async Task EveryOperationSendsTheProviderWireShape()
    {
        var handler = Accepting();
        var mj = Fake.Client(handler);
        var grid = Fake.GridTask();
        var up = Fake.Upscaled();

        await mj.ImagineAsync("a fox", aspectRatio: "16:9");
        Assert.Equal("/imagine", handler.Requests.Last().Path);
        Assert.Equal(HttpMethod.Post, handler.Requests.Last().Method);
        Assert.Equal(Fake.Key, handler.Requests.Last().Authorization);
        Assert.Equal("""{"prompt":"a fox","aspect_ratio":"16:9"}""", Body(handler).GetRawText());

        await mj.ImagineAsync("plain");
        Assert.Equal("""{"prompt":"plain"}""", Body(handler).GetRawText());

        await mj.Upscale1xAsync(grid, 2);
        Assert.Equal("""{"parent_task_id":"grid-1","index":"2"}""", Body(handler).GetRawText());
        await mj.VariationsAsync(grid, 3);
        Assert.Equal("""{"parent_task_id":"grid-1","index":"3"}""", Body(handler).GetRawText());
        await mj.VariationsAsync(up, VariationStrength.Strong);
        Assert.Equal("""{"parent_task_id":"up-1","index":"strong"}""", Body(handler).GetRawText());
        await mj.UpscaleAltAsync(up, UpscaleAltMode.Creative);
        Assert.Equal("""{"parent_task_id":"up-1","type":"creative"}""", Body(handler).GetRawText());
        await mj.UpscaleHighresAsync(up, HighresScale.Double);
        Assert.Equal("""{"parent_task_id":"up-1","type":"2x"}""", Body(handler).GetRawText());
        await mj.PanAsync(up, PanDirection.Left, webhookUrl: "https://hooks.example/mj", webhookSecret: "whsec");
        Assert.Equal("""{"parent_task_id":"up-1","direction":"left","webhook_url":"https://hooks.example/mj","webhook_secret":"whsec"}""", Body(handler).GetRawText());
        await mj.OutpaintAsync(up, 1.5);
        Assert.Equal("""{"parent_task_id":"up-1","zoom_ratio":1.5}""", Body(handler).GetRawText());
        await mj.SeedAsync(grid);
        Assert.Equal("""{"task_id":"grid-1"}""", Body(handler).GetRawText());
        Assert.Equal("/seed", handler.Requests.Last().Path);
        await mj.BlendAsync(["https://a/1.png", "https://a/2.png"], BlendDimension.Portrait);
        Assert.Equal("""{"image_urls":["https://a/1.png","https://a/2.png"],"dimension":"portrait"}""", Body(handler).GetRawText());
        await mj.DescribeAsync("https://a/1.png");
        Assert.Equal("""{"image_url":"https://a/1.png"}""", Body(handler).GetRawText());
        await mj.FaceswapAsync("https://a/t.png", "https://a/s.png");
        Assert.Equal("""{"target_image_url":"https://a/t.png","swap_image_url":"https://a/s.png"}""", Body(handler).GetRawText());
        await mj.ShortenAsync("a long prompt");
        Assert.Equal("/shorten", handler.Requests.Last().Path);
        await mj.RerollAsync(grid);
        Assert.Equal("""{"parent_task_id":"grid-1"}""", Body(handler).GetRawText());

        var account = await mj.GetAccountAsync();
        Assert.Equal(HttpMethod.Get, handler.Requests.Last().Method);
        Assert.Equal((120L, 7L, "pro"), (account.Credits!.Value, account.TotalImages!.Value, account.Plan));
    }

    [Fact]
    public async Task BearerSchemeAndPathPrefixAreHonoured()
    {
        var handler = Accepting();
        var mj = Fake.Client(handler, configure: o =>
        {
            o.AuthScheme = "Bearer";
            o.BaseUrl = new Uri("http://gateway.test/v1");
        });
        var pending = await mj.ImagineAsync("x");
        Assert.Equal("t-1", pending.TaskId);
        Assert.Equal("/v1/imagine", handler.Requests.Last().Path);
        Assert.Equal("Bearer " + Fake.Key, handler.Requests.Last().Authorization);
    }

    [Fact]
    public async Task InvalidRequestsAreRefusedBeforeAnyRequest()
    {
        var handler = Accepting();
        var mj = Fake.Client(handler);
        var grid = Fake.GridTask();
        var up = Fake.Upscaled();
        var cases = new (Func<Task> Call, string Expected)[]
        {
            (async () => await mj.Upscale1xAsync(grid, 0), "1-based"),
            (async () => await mj.Upscale1xAsync(grid, 5), "out of range"),
            (async () => await mj.VariationsAsync(grid, 0), "1-based"),
            (async () => await mj.ImagineAsync(""), "must not be empty"),
            (async () => await mj.ImagineAsync(new string('x', 4001)), "limit is 4000"),
            (async () => await mj.ImagineAsync("x", aspectRatio: "wide"), "wrong format"),
            (async () => await mj.BlendAsync(["https://a/1.png"]), "give 2 to 5"),
            (async () => await mj.BlendAsync(Enumerable.Range(0, 6).Select(i => $"https://a/{i}.png").ToArray()), "give 2 to 5"),
            (async () => await mj.DescribeAsync("file:///etc/passwd"), "http:// or https://"),
            (async () => await mj.DescribeAsync("https://user:pw@a/1.png"), "credentials"),
            (async () => await mj.InpaintAsync(up, Convert.ToBase64String("GIF89a-not-png"u8.ToArray())), "not a PNG"),
            (async () => await mj.OutpaintAsync(up, 2.5), "out of range"),
            (async () => await mj.RerollAsync(Fake.GridTask("var-1", "variations")), "imagine or reroll"),
            (async () => await mj.PanAsync(up, (PanDirection)42), "Use one of"),
        };
        foreach (var (call, expected) in cases)
        {
            var ex = await Assert.ThrowsAnyAsync<Exception>(call);
            Assert.True(ex is MjValidationException or ArgumentOutOfRangeException, ex.GetType().Name);
            Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        }

        Assert.Empty(handler.Requests);
    }

    [Fact]
    public async Task MissingApiKeySaysHowToFixItAndSendsNothing()
    {
        var handler = Accepting();
        var mj = Fake.Client(handler, configure: o => o.ApiKey = null);
        var ex = await Assert.ThrowsAsync<MjValidationException>(async () => await mj.ImagineAsync("x"));
        Assert.Contains("MJMCP_API_KEY", ex.Message, StringComparison.Ordinal);
        Assert.Empty(handler.Requests);
    }

    [Theory]
    [InlineData(400, """{"errors":[{"msg":"Invalid request"}],"message":"Invalid request"}""", typeof(MjProviderException), "Invalid request")]
    [InlineData(400, """{"errors":[{"msg":"parent not found"}]}""", typeof(MjProviderException), "parent not found")]
    [InlineData(401, "{}", typeof(MjAuthenticationException), "MJMCP_API_KEY")]
    [InlineData(500, "{}", typeof(MjProviderException), "500")]
    public async Task ProviderErrorsAreTypedAndKeepTheProvidersMessage(int status, string body, Type type, string expected)
    {
        var logger = new ListLogger<MidjourneyClient>();
        var mj = Fake.Client(new ScriptedHandler(_ => ScriptedHandler.Json((HttpStatusCode)status, body)), logger: logger);
        var ex = await Assert.ThrowsAnyAsync<MjProviderException>(async () => await mj.ImagineAsync("x"));
        Assert.IsType(type, ex);
        Assert.Equal((HttpStatusCode)status, ex.StatusCode);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Fake.Key, ex.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(logger.Lines, l => l.Contains(Fake.Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RateLimitCarriesRetryAfter()
    {
        var mj = Fake.Client(new ScriptedHandler(_ =>
        {
            var response = ScriptedHandler.Json(HttpStatusCode.TooManyRequests, "{}");
            response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(7));
            return response;
        }));
        var ex = await Assert.ThrowsAsync<MjRateLimitedException>(async () => await mj.ImagineAsync("x"));
        Assert.Equal(TimeSpan.FromSeconds(7), ex.RetryAfter);
    }

    [Fact]
    public async Task TransportFailuresSayWhetherATaskMayExist()
    {
        var refused = Fake.Client(new ScriptedHandler(_ => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused))));
        var before = await Assert.ThrowsAsync<MjTransportException>(async () => await refused.ImagineAsync("x"));
        Assert.False(before.MayHaveCreatedTask);

        var dropped = Fake.Client(new ScriptedHandler(_ => throw new HttpRequestException(HttpRequestError.ResponseEnded, "ended")));
        var after = await Assert.ThrowsAsync<MjTransportException>(async () => await dropped.ImagineAsync("x"));
        Assert.True(after.MayHaveCreatedTask);
        Assert.Contains("not resubmitted", after.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SecretsNeverReachToString()
    {
        var options = new MidjourneyOptions { ApiKey = Fake.Key };
        Assert.DoesNotContain(Fake.Key, options.ToString(), StringComparison.Ordinal);
        var request = new ImagineRequest { Prompt = "x", WebhookUrl = "https://h", WebhookSecret = "whsec-very-secret" };
        Assert.DoesNotContain("whsec-very-secret", request.ToString(), StringComparison.Ordinal);
        Assert.Contains("WebhookSecret = ***", request.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DependencyInjectionRegistersAConfiguredClient()
    {
        var handler = Accepting();
        var services = new ServiceCollection();
        services.AddMidjourneyClient(o =>
        {
            o.ApiKey = Fake.Key;
            o.BaseUrl = new Uri("http://di.test/prefix/");
        }).ConfigurePrimaryHttpMessageHandler(() => handler);
        await using var provider = services.BuildServiceProvider();
        var mj = provider.GetRequiredService<MidjourneyClient>();
        Assert.Same(mj, provider.GetRequiredService<MidjourneyClient>());
        await mj.ImagineAsync("di");
        Assert.Equal("/prefix/imagine", handler.Requests.Last().Path);
    }

    [Fact]
    public void FetchResponseReadsStringsAndNumbers()
    {
        var a = FetchResponse.Parse("""{"task_id":"a","task_type":"seed","status":"finished","percentage":"45","seed":"12345"}"""u8);
        var b = FetchResponse.Parse("""{"task_id":"b","task_type":"seed","status":"processing","percentage":45,"seed":12345}"""u8);
        Assert.Equal(45, a.Percentage);
        Assert.Equal(45, b.Percentage);
        Assert.Equal("12345", a.GetString("seed"));
        Assert.Equal("12345", b.GetString("seed"));
        Assert.Throws<MjProtocolException>(() => FetchResponse.Parse("[1]"u8));
        var seed = SeedResult.FromFetch(a);
        Assert.Equal("12345", seed.Seed);
    }
}
