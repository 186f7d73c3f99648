using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using MjMcp.Sandbox;

namespace MjMcp.Server.Tests;

/// <summary>The memory of job durations survives a restart: saved in the data directory, loaded at start.</summary>
public sealed class JobDurationFileTests
{
    [Fact]
    public async Task AServerRestartedOnItsDataDirectoryPlansItsFirstJobFromTheSavedMemory()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = "durations-key",
            CandidateSize = 64,
            Timing = new SandboxTiming(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4)),
        });
        var dataDir = Paths.TempDir("durations");
        var file = Path.Combine(dataDir, "job-durations.json");
        int firstJobPolls;
        await using (var first = await ServerProcess.StartAsync(sandbox, dataDir))
        {
            firstJobPolls = await PollsOfOneImagineAsync(first, sandbox, "first");
            await PollsOfOneImagineAsync(first, sandbox, "second");
        }

        using (var saved = JsonDocument.Parse(await File.ReadAllBytesAsync(file)))
        {
            var jobs = saved.RootElement.GetProperty("jobs").EnumerateArray().ToArray();
            Assert.Equal(2, jobs.Length);
            Assert.All(jobs, j => Assert.Equal("imagine", j.GetProperty("operation").GetString()));
            Assert.All(jobs, j => Assert.InRange(j.GetProperty("queue_seconds").GetDouble() + j.GetProperty("run_seconds").GetDouble(), 3.5, 6.5));
            Assert.All(jobs, j => Assert.Equal(1, j.GetProperty("in_flight").GetInt32())); // one call at a time
        }

        await using var restarted = await ServerProcess.StartAsync(sandbox, dataDir);
        var restartedPolls = await PollsOfOneImagineAsync(restarted, sandbox, "after the restart");
        Assert.True(restartedPolls < firstJobPolls, $"{restartedPolls} polls after the restart, {firstJobPolls} for the first job on a fresh data directory");
    }

    [Fact]
    public async Task ACorruptFileIsIgnoredAndReplaced()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions
        {
            ApiKey = "durations-key",
            CandidateSize = 64,
            Timing = new SandboxTiming(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(4)), // seen running: a duration to learn
        });
        var dataDir = Paths.TempDir("durations-corrupt");
        var file = Path.Combine(dataDir, "job-durations.json");
        await File.WriteAllTextAsync(file, "{\"version\":1,\"jobs\":[{\"operation\":\"imagine\",\"queue_seconds\":");
        await using var server = await ServerProcess.StartAsync(sandbox, dataDir);
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a corrupt memory", ["wait_seconds"] = 30 });
        Assert.Equal("finished", grid.GetProperty("state").GetString());
        using var saved = JsonDocument.Parse(await File.ReadAllBytesAsync(file));
        Assert.Equal("imagine", Assert.Single(saved.RootElement.GetProperty("jobs").EnumerateArray()).GetProperty("operation").GetString());
        Assert.Empty(Directory.GetFiles(dataDir, "*.tmp"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("[1,2,3]")]
    [InlineData("{\"version\":2,\"jobs\":[]}")]
    [InlineData("{\"version\":1.5,\"jobs\":[]}")]
    [InlineData("{\"version\":1,\"jobs\":{}}")]
    public void AFileThatIsNotOursLoadsNothing(string content)
    {
        var path = Path.Combine(Paths.TempDir("durations-foreign"), "job-durations.json");
        File.WriteAllText(path, content);
        Assert.Empty(JobDurationFile.Load(path, new HashSet<string>(StringComparer.Ordinal) { "imagine" }, NullLogger.Instance));
    }

    [Fact]
    public void OnlyJobsOfTheSpecsOperationsWithNumbersAreLoaded()
    {
        var path = Path.Combine(Paths.TempDir("durations-mixed"), "job-durations.json");
        File.WriteAllText(path, """
            {"version":1,"jobs":[
              {"operation":"imagine","queue_seconds":1.5,"run_seconds":20},
              {"operation":"imagine","queue_seconds":2,"run_seconds":30,"in_flight":12},
              {"operation":"imagine","queue_seconds":2,"run_seconds":30,"in_flight":0},
              {"operation":"no-such-operation","queue_seconds":1,"run_seconds":5},
              {"operation":"imagine","queue_seconds":"1","run_seconds":5},
              {"operation":"imagine","queue_seconds":1e300,"run_seconds":5},
              {"operation":"imagine","run_seconds":5},
              "imagine"
            ]}
            """);
        // A job without in_flight (a file from before it was kept), or with a load below one, counts as one in flight.
        Assert.Equal(
            [
                new JobDuration("imagine", TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(20), 1),
                new JobDuration("imagine", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), 12),
                new JobDuration("imagine", TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(30), 1),
            ],
            JobDurationFile.Load(path, new HashSet<string>(StringComparer.Ordinal) { "imagine" }, NullLogger.Instance));
    }

    /// <summary>One imagine waited for to its end: the sandbox's /fetch calls it cost.</summary>
    private static async Task<int> PollsOfOneImagineAsync(ServerProcess server, SandboxServer sandbox, string prompt)
    {
        var before = sandbox.Counters.Requests("/fetch");
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = prompt, ["wait_seconds"] = 30 });
        Assert.Equal("finished", grid.GetProperty("state").GetString());
        return sandbox.Counters.Requests("/fetch") - before;
    }
}
