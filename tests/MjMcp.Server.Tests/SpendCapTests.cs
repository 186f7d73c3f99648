using System.Text.Json.Nodes;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>The server-wide cap on provider jobs: calls past it queue for at most their wait bound, then nothing is sent.</summary>
public sealed class SpendCapTests
{
    [Fact]
    public async Task CallsPastTheCapSendNothingAndSaySo()
    {
        // Every submit takes 3 s to answer, so the first two calls hold both slots well past the others' 1 s bound.
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = "cap-key",
            CandidateSize = 64,
            Faults = new SandboxFaults { Submit = new FaultRates { Latency = TimeSpan.FromSeconds(3) } },
        });
        await using var server = await ServerProcess.StartAsync(sandbox, env: new() { ["MJMCP_MAX_CONCURRENT_SUBMITS"] = "2" });
        var first = new[] { server.CallAsync("imagine", new JsonObject { ["prompt"] = "first", ["wait_seconds"] = 10 }), server.CallAsync("imagine", new JsonObject { ["prompt"] = "second", ["wait_seconds"] = 10 }) };

        // Both first submits have reached the provider (and hold both slots) before the late calls are made.
        for (var i = 0; i < 600 && sandbox.Counters.Requests("/imagine") < 2; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(2, sandbox.Counters.Requests("/imagine"));
        var late = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => server.CallAsync("imagine", new JsonObject { ["prompt"] = "late " + i, ["wait_seconds"] = 1 })));
        Assert.All(late, r =>
        {
            Assert.True(r.IsError);
            var error = r.StructuredContent!.Value.GetProperty("error");
            Assert.Equal("server_busy", error.GetProperty("code").GetString());
            Assert.Contains("nothing was sent", error.GetProperty("message").GetString(), StringComparison.Ordinal);
        });

        foreach (var call in first)
        {
            var result = await call;
            Assert.False(result.IsError == true, ServerProcess.Text(result));
        }

        Assert.Equal(2, sandbox.Counters.AcceptedSubmissions);

        // Slots free again: the next call goes through.
        await server.OkAsync("imagine", new JsonObject { ["prompt"] = "after", ["wait_seconds"] = 10 });
        Assert.Equal(3, sandbox.Counters.AcceptedSubmissions);
    }
}
