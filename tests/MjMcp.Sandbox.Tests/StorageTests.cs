using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>Bounded storage that never breaks a workflow: pinned parent chains, a minimum retention, every byte counted.</summary>
public sealed class StorageTests
{
    private static string TempDir() => Path.Combine(Path.GetTempPath(), "mjmcp-sandbox-store-" + Guid.NewGuid().ToString("N"));

    /// <summary>Waits until <paramref name="condition"/> holds, at most 5 s; the assertion after it says what failed.</summary>
    private static async Task UntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 500 && !condition(); i++)
        {
            await Task.Delay(10);
        }
    }

    private static long BytesOnDisk(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    /// <summary>One imagine → upscale_1x → pan chain; the pan's final status, or null when a step was refused because its parent was evicted.</summary>
    private static async Task<string?> ChainAsync(HttpClient http, int i)
    {
        async Task<string?> Step(string path, JsonObject body)
        {
            var (status, reply) = await Wire.PostAsync(http, path, body);
            if (status == HttpStatusCode.BadRequest && reply.GetProperty("message").GetString()!.Contains("not found", StringComparison.Ordinal))
            {
                return null;
            }

            Assert.True(status == HttpStatusCode.OK, $"{path} → {status} {reply}");
            var id = reply.GetProperty("task_id").GetString()!;
            for (var poll = 0; poll < 2400; poll++)
            {
                var (fetched, task) = await Wire.PostAsync(http, "/fetch", new JsonObject { ["task_id"] = id });
                if (fetched == HttpStatusCode.BadRequest)
                {
                    return null; // Finished and already evicted (only with no retention).
                }

                var state = task.GetProperty("status").GetString();
                Assert.NotEqual("failed", state);
                if (state == "finished")
                {
                    return id;
                }

                await Task.Delay(20);
            }

            throw new TimeoutException(path);
        }

        var grid = await Step("/imagine", new JsonObject { ["prompt"] = "chain " + i.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var up = grid is null ? null : await Step("/upscale-1x", new JsonObject { ["parent_task_id"] = grid, ["index"] = (i % 4) + 1 });
        var pan = up is null ? null : await Step("/pan", new JsonObject { ["parent_task_id"] = up, ["direction"] = "left" });
        return pan is null ? null : "finished";
    }

    [Fact]
    public async Task ConcurrentChainsAllFinishInATinyStoreAndSpaceIsFreedAfterTheRetention()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var dir = TempDir();
        var (server, http) = await Wire.StartAsync(new SandboxOptions { DataDirectory = dir, CandidateSize = 64, MaxStorageBytes = 1, TimeProvider = clock });
        try
        {
            await using (server)
            using (http)
            {
                var results = await Task.WhenAll(Enumerable.Range(0, 60).Select(i => ChainAsync(http, i)));
                Assert.All(results, r => Assert.Equal("finished", r));
                Assert.Equal(0, server.RenderFailures);
                Assert.Equal(180, server.Counters.AcceptedSubmissions);

                // Every task is younger than MinRetention (10 minutes by default): nothing was evicted.
                // (The last task's record is saved just after it shows finished: wait, bounded, until the count has it.)
                await UntilAsync(() => BytesOnDisk(dir) == server.StoredBytes);

                var kept = server.StoredBytes;
                Assert.Equal(BytesOnDisk(dir), kept);

                // Past the retention, the next eviction frees everything but the newest task (itself too young).
                clock.Advance(TimeSpan.FromMinutes(11));
                var last = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "after the retention" }));
                Assert.Equal("finished", last.GetProperty("status").GetString());

                // The render shows the task finished, then saves its record and evicts: a client can see "finished" a
                // moment before the eviction ran (this test once read the store in between). Wait for it, bounded.
                await UntilAsync(() => server.StoredBytes < kept / 20);

                Assert.True(server.StoredBytes < kept / 20, $"{server.StoredBytes} of {kept} bytes kept");
                Assert.Equal(BytesOnDisk(dir), server.StoredBytes);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task WithoutRetentionEvictionNeverBreaksAnAcceptedTask()
    {
        // The worst case: evict as soon as possible. A step may be refused (its parent is gone, as the provider would say),
        // but nothing accepted fails: the parent chain of every unfinished task is pinned until it is done.
        var dir = TempDir();
        var (server, http) = await Wire.StartAsync(new SandboxOptions { DataDirectory = dir, CandidateSize = 64, MaxStorageBytes = 150_000, MinRetention = TimeSpan.Zero });
        try
        {
            await using (server)
            using (http)
            {
                var results = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => ChainAsync(http, i)));
                Assert.Equal(0, server.RenderFailures);
                Assert.Contains(results, r => r == "finished");
                Assert.True(server.StoredBytes <= 150_000 + 100_000, $"{server.StoredBytes} bytes kept");
                Assert.Equal(BytesOnDisk(dir), server.StoredBytes);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TwoWritersOfOneImageBothSucceedAndLeaveOneWholeFile()
    {
        // A sandbox restarted on the same directory re-renders an unfinished task while the old process may still be
        // writing it: each writer must rename its own temporary file (a shared one was moved away under the other).
        var dir = TempDir();
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var stores = new[] { new TaskStore(dir, long.MaxValue, TimeSpan.Zero, clock), new TaskStore(dir, long.MaxValue, TimeSpan.Zero, clock) };
            var png = PngCodec.Encode(new RgbaImage(16, 16));
            Parallel.For(0, 4000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            {
                var store = stores[i % 2];
                if (i % 4 < 2)
                {
                    store.WriteImage("task", "1", png);
                }
                else
                {
                    store.WriteImage("task", "1", stream => stream.Write(png));
                }
            });

            Assert.Equal(png, File.ReadAllBytes(stores[0].ImagePath("task", "1")));
            Assert.Equal(["1.png"], Directory.GetFiles(Path.Combine(dir, "images", "task")).Select(Path.GetFileName));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void PinnedChainsAndYoungTasksStayAndEvictionFreesTheRest()
    {
        var dir = TempDir();
        try
        {
            var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
            var png = PngCodec.Encode(new RgbaImage(8, 8));
            SandboxTask Done(TaskStore store, string id, string? parent)
            {
                var task = new SandboxTask { Id = id, Operation = "imagine", TaskType = "imagine", ParentId = parent, CreatedAt = clock.GetUtcNow() };
                Assert.True(store.TryAdd(task));
                task.Bytes += store.WriteImage(id, "image", png);
                task.Images.Add("image");
                task.Rendered = true;
                task.FinishedAt = clock.GetUtcNow();
                store.Save(task);
                return task;
            }

            // No retention, no room: only pins keep tasks.
            var store = new TaskStore(dir, maxBytes: 0, TimeSpan.Zero, clock);
            Done(store, "grid", null);
            var up = new SandboxTask { Id = "up", Operation = "upscale-1x", TaskType = "upscale#1", ParentId = "grid", CreatedAt = clock.GetUtcNow() };
            Assert.True(store.TryAdd(up)); // Pins grid.
            store.Evict();
            Assert.NotNull(store.Get("grid"));
            up.Bytes += store.WriteImage("up", "image", png);
            up.Images.Add("image");
            up.Rendered = true;
            up.FinishedAt = clock.GetUtcNow();
            var pan = new SandboxTask { Id = "pan", Operation = "pan", TaskType = "pan-left", ParentId = "up", CreatedAt = clock.GetUtcNow() };
            store.Save(up);
            Assert.True(store.TryAdd(pan)); // Pins up and grid (its chain).
            store.Evict();
            Assert.NotNull(store.Get("grid"));
            Assert.NotNull(store.Get("up"));
            pan.Rendered = true;
            pan.FinishedAt = clock.GetUtcNow();
            store.Save(pan); // Releases the chain.
            store.Evict();
            Assert.Null(store.Get("grid"));
            Assert.Null(store.Get("up"));
            Assert.Null(store.Get("pan"));
            Assert.Equal(0, store.TotalBytes);
            Assert.Equal(0, BytesOnDisk(dir));

            // A parent that is gone: the child is not stored.
            Assert.False(store.TryAdd(new SandboxTask { Id = "orphan", Operation = "pan", TaskType = "pan-up", ParentId = "grid", CreatedAt = clock.GetUtcNow() }));
            Assert.Null(store.Get("orphan"));

            // With a retention, a young finished task stays however full the store is, and goes once old enough (oldest first).
            var kept = new TaskStore(dir, maxBytes: 0, TimeSpan.FromMinutes(10), clock);
            Done(kept, "old", null);
            clock.Advance(TimeSpan.FromMinutes(5));
            Done(kept, "young", null);
            kept.Evict();
            Assert.NotNull(kept.Get("old"));
            clock.Advance(TimeSpan.FromMinutes(5.5));
            kept.Evict();
            Assert.Null(kept.Get("old"));
            Assert.NotNull(kept.Get("young"));
            Assert.Equal(BytesOnDisk(dir), kept.TotalBytes);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task AMissingParentAtRenderTimeMakesACleanFailedTask()
    {
        var dir = TempDir();
        try
        {
            var id = Guid.NewGuid().ToString();
            Directory.CreateDirectory(Path.Combine(dir, "tasks"));
            var orphan = new JsonObject { ["Id"] = id, ["Operation"] = "pan", ["TaskType"] = "pan-left", ["ParentId"] = "gone-parent", ["Stage"] = "grid", ["CreatedAt"] = DateTimeOffset.UtcNow, ["Params"] = new JsonObject { ["direction"] = "left" } };
            await File.WriteAllTextAsync(Path.Combine(dir, "tasks", id + ".json"), orphan.ToJsonString());
            var (server, http) = await Wire.StartAsync(new SandboxOptions { DataDirectory = dir });
            await using (server)
            using (http)
            {
                var failed = await Wire.FinishedAsync(http, id);
                Assert.Equal("failed", failed.GetProperty("status").GetString());
                var error = failed.GetProperty("error").GetString()!;
                Assert.Contains("gone-parent", error, StringComparison.Ordinal);
                Assert.Contains("no longer stored", error, StringComparison.Ordinal);
                Assert.DoesNotContain("Object reference", error, StringComparison.Ordinal);
                Assert.Equal(error, failed.GetProperty("message").GetString());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task AbsurdPromptsAreRefusedAndTaskJsonIsCounted()
    {
        var dir = TempDir();
        var (server, http) = await Wire.StartAsync(new SandboxOptions { DataDirectory = dir, CandidateSize = 32 });
        try
        {
            await using (server)
            using (http)
            {
                var grid = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = new string('a', 8192) }));
                var up = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/upscale-1x", new JsonObject { ["parent_task_id"] = grid.GetProperty("task_id").GetString(), ["index"] = "1" }));
                var before = server.Counters.AcceptedSubmissions;
                var huge = new string('b', 20 << 20);
                foreach (var (path, body) in new (string, JsonObject)[]
                {
                    ("/imagine", new JsonObject { ["prompt"] = new string('a', 8193) }),
                    ("/imagine", new JsonObject { ["prompt"] = huge }),
                    ("/shorten", new JsonObject { ["prompt"] = new string('é', 4097) }),
                    ("/pan", new JsonObject { ["parent_task_id"] = up.GetProperty("task_id").GetString(), ["direction"] = "up", ["prompt"] = huge }),
                })
                {
                    var (status, reply) = await Wire.PostAsync(http, path, body);
                    Wire.AssertError(status, reply, HttpStatusCode.BadRequest, "prompt is too long: at most 8192 bytes");
                }

                Assert.Equal(before, server.Counters.AcceptedSubmissions);

                // Every byte stored is counted: task JSON (the 8 KB prompt included) and images.
                Assert.Equal(BytesOnDisk(dir), server.StoredBytes);
                Assert.True(new FileInfo(Path.Combine(dir, "tasks", grid.GetProperty("task_id").GetString() + ".json")).Length > 8192);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
