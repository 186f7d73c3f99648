// MCP9005: the logging feature is deprecated from protocol revision 2026-07-28 on; this test is a 2025-11-25 client,
// the revision most clients speak today, which sets its level with logging/setLevel and reads notifications/message.
#pragma warning disable MCP9005
using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>
/// Provider errors and retries reach the MCP client as notifications/message at the level it set with
/// logging/setLevel — and nothing below that level is sent.
/// </summary>
public sealed class ClientLoggingTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public ClientLoggingTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task AFailedTaskIsAWarningToTheClient()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var seen = new ConcurrentQueue<(LoggingLevel Level, string Text)>();
        await using var handler = server.Client.RegisterNotificationHandler(NotificationMethods.LoggingMessageNotification, (notification, _) =>
        {
            var message = JsonSerializer.Deserialize<LoggingMessageNotificationParams>(notification.Params, ModelContextProtocol.McpJsonUtilities.DefaultOptions)!;
            seen.Enqueue((message.Level, message.Data.ToString()));
            return default;
        });
        await server.Client.SetLoggingLevelAsync(LoggingLevel.Warning);

        // The sandbox's moderation fails a prompt with a banned word, as the provider does.
        var failed = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a forbidden fox" });
        Assert.True(failed.IsError == true, ServerProcess.Text(failed));
        var taskId = failed.StructuredContent!.Value.GetProperty("task_id").GetString()!;
        await Until(() => seen.Any(s => s.Level == LoggingLevel.Warning && s.Text.Contains(taskId, StringComparison.Ordinal) && s.Text.Contains("failed", StringComparison.Ordinal)));
        Assert.DoesNotContain(seen, s => s.Level < LoggingLevel.Warning);
    }

    [Fact]
    public async Task ProviderErrorsAndRetriesReachTheClientAtItsLevel()
    {
        // Every /fetch fails with 500: a submit is accepted, then its wait retries (debug) and logs the errors (warning).
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = "logging-provider-key-77c1",
            DataDirectory = Paths.TempDir("sandbox-logging"),
            Timing = SandboxTiming.Instant,
            CandidateSize = 64,
            Faults = new SandboxFaults { Fetch = new FaultRates { ServerError = 1 } },
        });
        await using var server = await ServerProcess.StartAsync(sandbox);
        var seen = new ConcurrentQueue<(LoggingLevel Level, string Logger, string Text)>();
        await using var handler = server.Client.RegisterNotificationHandler(NotificationMethods.LoggingMessageNotification, (notification, _) =>
        {
            var message = JsonSerializer.Deserialize<LoggingMessageNotificationParams>(notification.Params, ModelContextProtocol.McpJsonUtilities.DefaultOptions)!;
            seen.Enqueue((message.Level, message.Logger ?? string.Empty, message.Data.ToString()));
            return default;
        });

        // At "error", the warnings and debug lines of a failing wait are not sent.
        await server.Client.SetLoggingLevelAsync(LoggingLevel.Error);
        var quiet = await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a quiet lake", ["wait_seconds"] = 5 });
        Assert.False(sandbox.Counters.Requests("/fetch") == 0, "the wait never fetched");
        Assert.True(seen.IsEmpty, $"sent below the level: {string.Join(" | ", seen.Select(s => s.Level + " " + s.Text))}; result: {ServerProcess.Text(quiet)}");

        // At "debug", the retries (debug) and the provider's errors (warning) arrive as they happen.
        await server.Client.SetLoggingLevelAsync(LoggingLevel.Debug);
        await server.CallAsync("imagine", new JsonObject { ["prompt"] = "a loud lake", ["wait_seconds"] = 8 });
        await Until(() => seen.Any(s => s.Level == LoggingLevel.Debug && s.Text.Contains("will retry", StringComparison.Ordinal)));
        await Until(() => seen.Any(s => s.Level == LoggingLevel.Warning && s.Text.Contains("500", StringComparison.Ordinal)));
        Assert.All(seen, s => Assert.StartsWith("MjMcp", s.Logger, StringComparison.Ordinal));
        Assert.DoesNotContain(seen, s => s.Text.Contains(sandbox.Options.ApiKey!, StringComparison.Ordinal));
    }

    /// <summary>Notifications travel beside the result: give one that is on its way a moment to arrive (bounded, so a missing one fails).</summary>
    private static async Task Until(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            Assert.False(timeout.IsCancellationRequested, "the expected notifications/message never arrived");
            await Task.Delay(50);
        }
    }
}
