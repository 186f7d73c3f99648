using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MjMcp.Sandbox;

namespace MjMcp.Sdk.Tests;

/// <summary>Faults on the wire: reads are retried, submits never twice, nothing lost or duplicated, no secret in any log.</summary>
public sealed class ReliabilityTests
{
    private const string Key = "sk-live-RELIABILITY-9931";

    private static ServiceProvider Services(SandboxServer sandbox, ConcurrentQueue<string> logs) =>
        new ServiceCollection()
            .AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new CaptureProvider(logs)))
            .AddMidjourneyClient(o =>
            {
                o.BaseUrl = sandbox.BaseUrl;
                o.ApiKey = Key;
                o.PollInitialDelay = TimeSpan.FromMilliseconds(50);
                o.PollMinInterval = TimeSpan.FromMilliseconds(50);
                o.PollMaxInterval = TimeSpan.FromMilliseconds(500);
                o.MaxConsecutiveFetchFailures = 10;
            }).Services.BuildServiceProvider();

    [Fact]
    public async Task AWorkflowUnderThirtyPercentFaultsCompletesWithoutDuplicates()
    {
        var faults = new SandboxFaults
        {
            Seed = 11,
            Fetch = new FaultRates { ServerError = 0.1, TooManyRequests = 0.1, DropConnection = 0.1 },
            Submit = new FaultRates { TooManyRequests = 0.2 },
        };
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, Faults = faults });
        var logs = new ConcurrentQueue<string>();
        await using var services = Services(sandbox, logs);
        var mj = services.GetRequiredService<MidjourneyClient>();
        var created = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            var grid = await mj.ImagineAsync("resilient harbour " + round).WaitAsync();
            var pick = await mj.Upscale1xAsync(grid, 1 + round).WaitAsync();
            var panned = await mj.PanAsync(pick, PanDirection.Up).WaitAsync();
            created.AddRange([grid.TaskId, pick.TaskId, panned.TaskId]);
        }

        Assert.Equal(9, created.Distinct().Count());
        Assert.Equal(created.Count, sandbox.Counters.AcceptedSubmissions);
        Assert.True(sandbox.Counters.Requests("/fetch") > 9, "faults should have cost extra fetches");
        Assert.DoesNotContain(logs, line => line.Contains(Key, StringComparison.Ordinal));
    }

    [Fact]
    public async Task AnAmbiguousSubmitFailureIsNeverResubmitted()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, Faults = new SandboxFaults { Submit = new FaultRates { DropConnection = 1 } } });
        var logs = new ConcurrentQueue<string>();
        await using var services = Services(sandbox, logs);
        var mj = services.GetRequiredService<MidjourneyClient>();
        var ex = await Assert.ThrowsAsync<MjTransportException>(async () => await mj.ImagineAsync("once only"));
        Assert.True(ex.MayHaveCreatedTask);
        Assert.Contains("not resubmitted", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, sandbox.Counters.Requests("/imagine"));
        Assert.DoesNotContain(Key, ex.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RateLimitedSubmitsAreRetriedBecauseNothingWasCreated()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, Faults = new SandboxFaults { Seed = 3, Submit = new FaultRates { TooManyRequests = 0.5 } } });
        await using var services = Services(sandbox, new ConcurrentQueue<string>());
        var mj = services.GetRequiredService<MidjourneyClient>();
        for (var i = 0; i < 6; i++)
        {
            await mj.ImagineAsync("retry " + i);
        }

        Assert.Equal(6, sandbox.Counters.AcceptedSubmissions);
        Assert.True(sandbox.Counters.Requests("/imagine") > 6);
    }

    [Fact]
    public async Task AServerErrorToASubmitSaysTheTaskMayExist()
    {
        var handler = new ScriptedHandler(r => r.Path.EndsWith("/imagine", StringComparison.Ordinal)
            ? ScriptedHandler.Json(System.Net.HttpStatusCode.InternalServerError, """{"errors":[{"msg":"upstream exploded"}]}""")
            : ScriptedHandler.Json(System.Net.HttpStatusCode.OK, "{}"));
        var mj = Fake.Client(handler);
        var ex = await Assert.ThrowsAsync<MjProviderException>(async () => await mj.ImagineAsync("a fox"));
        Assert.True(ex.MayHaveCreatedTask);
        Assert.Contains("may have created", ex.Message, StringComparison.Ordinal);
        Assert.Contains("upstream exploded", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, handler.Count("/imagine"));
    }

    [Fact]
    public async Task AnOpenCircuitSendsNothingAndSaysSo()
    {
        // A provider that fails every read trips the breaker; then a submit is refused before sending.
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = Key, Faults = new SandboxFaults { Fetch = new FaultRates { ServerError = 1 } } });
        await using var services = Services(sandbox, new ConcurrentQueue<string>());
        var mj = services.GetRequiredService<MidjourneyClient>();
        MjTransportException? open = null;
        for (var i = 0; i < 40 && open is null; i++)
        {
            try
            {
                await mj.FetchAsync("t-" + i);
            }
            catch (MjTransportException ex) when (ex.InnerException is Polly.CircuitBreaker.BrokenCircuitException)
            {
                open = ex;
            }
            catch (MjException)
            {
                // 500s until the breaker opens.
            }
        }

        Assert.NotNull(open);
        var before = sandbox.Counters.Requests("/imagine");
        var refused = await Assert.ThrowsAsync<MjTransportException>(async () => await mj.ImagineAsync("not now"));
        Assert.False(refused.MayHaveCreatedTask);
        Assert.Contains("nothing was created", refused.Message, StringComparison.Ordinal);
        Assert.Equal(before, sandbox.Counters.Requests("/imagine"));
        Assert.Equal(0, sandbox.Counters.AcceptedSubmissions);
    }

    private sealed class CaptureProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Capture(lines);

        public void Dispose()
        {
        }

        private sealed class Capture(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception) + " " + exception + " " + state);
        }
    }
}
