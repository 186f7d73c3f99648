using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>The fault proxy: after-the-effect drops and failures reach the provider; refusals never do.</summary>
public sealed class FaultProxyTests
{
    private static async Task<List<string>> RunAsync(int seed)
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "proxy-key", CandidateSize = 32 });
        var options = new FaultProxyOptions { Seed = seed, DropAfterUpstreamRate = 0.2, FailAfterUpstreamRate = 0.2, RefuseBeforeRate = 0.2 };
        await using var proxy = await FaultProxy.StartAsync(sandbox.BaseUrl, options);
        using var http = Wire.Client(proxy.BaseUrl, "Bearer proxy-key");
        var outcomes = new List<string>();
        const int n = 60;
        for (var i = 0; i < n; i++)
        {
            // A fresh connection per submit, so the client never silently retries a dropped one.
            using var request = new HttpRequestMessage(HttpMethod.Post, "imagine?trace=" + i.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                Content = new StringContent(new JsonObject { ["prompt"] = "proxied " + i.ToString(System.Globalization.CultureInfo.InvariantCulture) }.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.ConnectionClose = true;
            try
            {
                using var response = await http.SendAsync(request);
                var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                outcomes.Add(((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    // Provider-style bodies for injected answers.
                    Assert.Equal(body.GetProperty("message").GetString(), body.GetProperty("errors")[0].GetProperty("msg").GetString());
                }

                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Assert.Equal("1", response.Headers.RetryAfter?.ToString());
                }
            }
            catch (HttpRequestException)
            {
                outcomes.Add("dropped");
            }
        }

        // The provider made a task for every submit that reached it, whatever the client saw; refused ones never reached it.
        Assert.Equal(sandbox.Counters.AcceptedSubmissions, proxy.Forwarded + proxy.DroppedAfterUpstream + proxy.FailedAfterUpstream);
        Assert.Equal(n - proxy.RefusedBeforeUpstream, sandbox.Counters.Requests("/imagine"));
        Assert.Equal(n, proxy.Forwarded + proxy.DroppedAfterUpstream + proxy.FailedAfterUpstream + proxy.RefusedBeforeUpstream);
        Assert.Equal(proxy.Forwarded, outcomes.Count(o => o == "200"));
        Assert.Equal(proxy.FailedAfterUpstream, outcomes.Count(o => o == "500"));
        Assert.Equal(proxy.RefusedBeforeUpstream, outcomes.Count(o => o == "503"));
        Assert.Equal(proxy.DroppedAfterUpstream, outcomes.Count(o => o == "dropped"));
        Assert.True(proxy.DroppedAfterUpstream > 0 && proxy.FailedAfterUpstream > 0 && proxy.RefusedBeforeUpstream > 0 && proxy.Forwarded > 0, string.Join(",", outcomes));

        // Reads pass through untouched (no faults), with the Authorization header, and images as bytes.
        var forwarded = proxy.Forwarded;
        var accepted = sandbox.Counters.AcceptedSubmissions;
        using var direct = Wire.Client(sandbox.BaseUrl, "proxy-key");
        var id = await Wire.SubmitAsync(direct, "/imagine", new JsonObject { ["prompt"] = "read through the proxy" });
        var task = await Wire.FinishedAsync(http, id);
        Assert.Equal("finished", task.GetProperty("status").GetString());
        var png = await http.GetByteArrayAsync(new Uri(proxy.BaseUrl, new Uri(task.GetProperty("image_urls")[0].GetString()!).AbsolutePath.TrimStart('/')));
        Assert.Equal((32, 32), PngCodec.ReadSize(png));
        Assert.Equal(10_000 - (4 * (accepted + 1)), await Wire.CreditsAsync(http));
        Assert.True(proxy.Forwarded >= forwarded + 3);
        using var unauthorized = Wire.Client(proxy.BaseUrl, "wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await Wire.PostAsync(unauthorized, "/fetch", new JsonObject { ["task_id"] = id })).Status);
        return outcomes;
    }

    [Fact]
    public async Task SubmitsThatReachTheProviderAreCountedAndRefusedOnesNeverReachIt()
    {
        var first = await RunAsync(seed: 11);
        Assert.Equal(first, await RunAsync(seed: 11));
    }

    [Fact]
    public void TheDefaultSubmitPredicateLeavesReadsAlone()
    {
        Assert.True(FaultProxyOptions.DefaultIsSubmitPath("/imagine"));
        Assert.True(FaultProxyOptions.DefaultIsSubmitPath("/remix"));
        Assert.False(FaultProxyOptions.DefaultIsSubmitPath("/fetch"));
        Assert.False(FaultProxyOptions.DefaultIsSubmitPath("/fetch-many"));
        Assert.False(FaultProxyOptions.DefaultIsSubmitPath("/account"));
        Assert.False(FaultProxyOptions.DefaultIsSubmitPath("/images/abc/1.png"));
    }
}
