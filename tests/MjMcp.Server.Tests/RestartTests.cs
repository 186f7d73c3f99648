using System.Diagnostics;
using System.Text.Json.Nodes;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>Long jobs: the wait bound returns a task_id; wait_task finishes it, also after the server was killed.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task BoundExceededReturnsTaskIdAndWaitTaskSurvivesKill9()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = "restart-key",
            DataDirectory = Paths.TempDir("restart-sandbox"),
            Timing = new SandboxTiming(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(6)),
        });
        var dataDir = Paths.TempDir("restart-server");
        string taskId;
        await using (var first = await ServerProcess.StartAsync(sandbox, dataDir))
        {
            var started = await first.CallAsync("imagine", new JsonObject { ["prompt"] = "a slow glacier", ["wait_seconds"] = 1 });
            Assert.False(started.IsError == true, ServerProcess.Text(started));
            var task = started.StructuredContent!.Value;
            Assert.NotEqual("finished", task.GetProperty("state").GetString());
            Assert.Contains("wait_task", task.GetProperty("hint").GetString(), StringComparison.Ordinal);
            taskId = task.GetProperty("task_id").GetString()!;

            // Kill -9 the server while a wait_task is in flight.
            var waiting = first.CallAsync("wait_task", new JsonObject { ["task_id"] = taskId, ["wait_seconds"] = 30 });
            await Task.Delay(500);
            var pid = first.FindPid();
            Assert.NotNull(pid);
            using (var kill = Process.Start("kill", ["-9", pid!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            await Assert.ThrowsAnyAsync<Exception>(async () => await waiting);
        }

        await using var second = await ServerProcess.StartAsync(sandbox, dataDir);
        var listed = await second.OkAsync("list_tasks", new JsonObject());
        Assert.Contains(listed.GetProperty("tasks").EnumerateArray(), t => t.GetProperty("task_id").GetString() == taskId);
        var finished = await second.OkAsync("wait_task", new JsonObject { ["task_id"] = taskId, ["wait_seconds"] = 30 });
        Assert.Equal("finished", finished.GetProperty("state").GetString());
        Assert.Equal("grid", finished.GetProperty("stage").GetString());
        Assert.Equal(1, sandbox.Counters.AcceptedSubmissions);
    }

    [Fact]
    public async Task TwoServersShareOneJournalSafely()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "shared-key", CandidateSize = 64 });
        var dataDir = Paths.TempDir("shared-journal");
        await using var a = await ServerProcess.StartAsync(sandbox, dataDir);
        await using var b = await ServerProcess.StartAsync(sandbox, dataDir);
        var ids = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            var server = i % 2 == 0 ? a : b;
            var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "shared " + i });
            return grid.GetProperty("task_id").GetString()!;
        }));

        // Each server sees the other's tasks, and a parent made by one is accepted by the other without asking the provider.
        var listed = await a.OkAsync("list_tasks", new JsonObject { ["limit"] = 200 });
        Assert.Equal(ids.Order(), listed.GetProperty("tasks").EnumerateArray().Select(t => t.GetProperty("task_id").GetString()!).Order());
        var fetchesBefore = sandbox.Counters.Requests("/fetch");
        var pick = await b.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = ids[0], ["index"] = 1, ["wait_seconds"] = 0 });
        Assert.Equal(ids[0], pick.GetProperty("parent_task_id").GetString());
        Assert.Equal(1, sandbox.Counters.Requests("/fetch") - fetchesBefore); // the one status read of wait_seconds 0; the parent came from the journal
    }
}
