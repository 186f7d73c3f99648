using System.Diagnostics;
using System.Text;

namespace MjMcp.Server.Tests;

/// <summary>The journal's write-ahead intents, final states and start-up checks; shutdown on SIGTERM and on stdin's end.</summary>
public sealed class NeverLoseATaskTests
{
    private static FetchResponse Update(string taskId, string status, string taskType = "imagine") =>
        FetchResponse.Parse(Encoding.UTF8.GetBytes(status == "finished"
            ? $$"""{"task_id":"{{taskId}}","task_type":"{{taskType}}","status":"finished","original_image_url":"http://127.0.0.1:1/g.png","image_urls":["http://127.0.0.1:1/1.png","http://127.0.0.1:1/2.png","http://127.0.0.1:1/3.png","http://127.0.0.1:1/4.png"]}"""
            : $$"""{"task_id":"{{taskId}}","task_type":"{{taskType}}","status":"{{status}}","percentage":"40"}"""));

    [Fact]
    public void AnIntentIsWrittenBeforeTheSubmitAndCompletedOnAcceptance()
    {
        using var journal = new SqliteTaskJournal(Path.Combine(Paths.TempDir("journal"), "journal.db"));
        var imagine = MidjourneySpec.Imagine;
        var intent = journal.BeginIntent(imagine, null, """{"prompt":"a fox"}""");
        Assert.Equal(IntentState.Sending, journal.GetIntent(intent)!.State);
        Assert.Empty(journal.UncertainIntents()); // sending, but young: not yet counted as uncertain

        journal.AcceptIntent(intent, "t-1", imagine, null);
        var accepted = journal.GetIntent(intent)!;
        Assert.Equal(IntentState.Accepted, accepted.State);
        Assert.Equal("t-1", accepted.TaskId);
        Assert.Equal("grid", journal.Get("t-1")!.Stage);
    }

    [Fact]
    public void AnUncertainIntentIsListedAndALateWebhookRecoversIt()
    {
        using var journal = new SqliteTaskJournal(Path.Combine(Paths.TempDir("journal"), "journal.db"));
        var intent = journal.BeginIntent(MidjourneySpec.Imagine, null, """{"prompt":"a fox"}""");
        journal.MarkIntentUncertain(intent, "connection lost after sending");
        var listed = Assert.Single(journal.UncertainIntents());
        Assert.Equal(intent, listed.IntentId);
        Assert.Equal("connection lost after sending", listed.Error);

        // The provider's callback names the intent in its URL: the orphan gets its task.
        Assert.True(journal.ApplyWebhook(Update("t-9", "processing"), intent, MidjourneySpec.Rules));
        Assert.Empty(journal.UncertainIntents());
        Assert.Equal("t-9", journal.GetIntent(intent)!.TaskId);
        Assert.Equal("imagine", journal.Get("t-9")!.Operation);
    }

    [Fact]
    public void AnUpdateForAnUnknownTaskIsIgnored()
    {
        using var journal = new SqliteTaskJournal(Path.Combine(Paths.TempDir("journal"), "journal.db"));
        Assert.False(journal.ApplyWebhook(Update("stranger", "finished"), null, MidjourneySpec.Rules));
        Assert.False(journal.ApplyWebhook(Update("stranger", "finished"), "i-not-an-intent", MidjourneySpec.Rules));
        Assert.Null(journal.Get("stranger"));
    }

    [Fact]
    public void FinishedAndFailedAreFinal()
    {
        using var journal = new SqliteTaskJournal(Path.Combine(Paths.TempDir("journal"), "journal.db"));
        journal.RecordSubmitted("t-2", MidjourneySpec.Imagine, null);
        journal.ApplyFetch(Update("t-2", "finished"), MidjourneySpec.Rules);
        journal.ApplyFetch(Update("t-2", "failed"), MidjourneySpec.Rules);
        journal.ApplyWebhook(Update("t-2", "processing"), null, MidjourneySpec.Rules);
        journal.MarkFailed("t-2", "late failure");
        var record = journal.Get("t-2")!;
        Assert.Equal(Rules.TaskState.Finished, record.State);
        Assert.NotNull(record.ResultJson);
    }

    [Fact]
    public void ADamagedJournalIsAClearStartupErrorThatNamesTheFile()
    {
        var dir = Paths.TempDir("journal-damaged");
        var path = Path.Combine(dir, "journal.db");
        File.WriteAllText(path, "this is not a database, just text that someone wrote over the journal. " + new string('x', 4096));
        var ex = Assert.Throws<JournalUnusableException>(() => new SqliteTaskJournal(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains("--reset-journal", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TheServerRefusesADamagedJournalWithoutAStackTraceAndResetJournalStartsFresh()
    {
        var dir = Paths.TempDir("journal-server");
        var path = Path.Combine(dir, "journal.db");
        await File.WriteAllTextAsync(path, "garbage " + new string('y', 8192));
        var (exit, stderr) = await RunServerAsync(dir, [], TimeSpan.FromSeconds(60));
        Assert.Equal(2, exit);
        Assert.Contains(path, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);

        // --reset-journal moves it aside and serves: closing stdin ends the server normally.
        (exit, stderr) = await RunServerAsync(dir, ["--reset-journal"], TimeSpan.FromSeconds(60));
        Assert.Equal(0, exit);
        Assert.Contains("moved the old journal aside", stderr, StringComparison.Ordinal);
        Assert.Single(Directory.GetFiles(dir, "journal.db.broken-*"), f => !f.EndsWith("-wal", StringComparison.Ordinal) && !f.EndsWith("-shm", StringComparison.Ordinal));
        using var fresh = new SqliteTaskJournal(path);
        Assert.Empty(fresh.List(null, 10));
    }

    [Fact]
    public async Task SigtermStopsTheServerWithinFiveSeconds()
    {
        var start = ServerStart(Paths.TempDir("sigterm"), []);
        using var process = Process.Start(start)!;
        try
        {
            // Wait until it serves (the log line on stderr), then SIGTERM.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line;
            do
            {
                line = await process.StandardError.ReadLineAsync(deadline.Token);
            }
            while (line is not null && !line.Contains("MCP server ready", StringComparison.Ordinal));
            Assert.NotNull(line);
            var stopwatch = Stopwatch.StartNew();
            using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var exitDeadline = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await process.WaitForExitAsync(exitDeadline.Token);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task RequestsReadBeforeStdinEndsAreAllAnswered()
    {
        using var process = Process.Start(ServerStart(Paths.TempDir("stdin-eof"), []))!;
        try
        {
            foreach (var line in new[]
            {
                """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"pipe","version":"1"}}}""",
                """{"jsonrpc":"2.0","method":"notifications/initialized"}""",
                """{"jsonrpc":"2.0","id":2,"method":"tools/list"}""",
                """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"imagine","arguments":{"prompt":"a fox in the snow"}}}""",
            })
            {
                await process.StandardInput.WriteLineAsync(line);
            }

            process.StandardInput.Close();
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var stdout = await process.StandardOutput.ReadToEndAsync(deadline.Token);
            await process.WaitForExitAsync(deadline.Token);
            var answers = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal([1, 2, 3], answers.Where(a => a.TryGetProperty("id", out _)).Select(a => a.GetProperty("id").GetInt32()).Order());
            var call = answers.Single(a => a.TryGetProperty("id", out var id) && id.GetInt32() == 3);
            Assert.Equal("finished", call.GetProperty("result").GetProperty("structuredContent").GetProperty("state").GetString());
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task AnAcceptedTaskReachesTheCallerEvenWhenTheJournalCannotRecordIt()
    {
        await using var sandbox = await MjMcp.Sandbox.SandboxServer.StartAsync(new MjMcp.Sandbox.SandboxOptions
        {
            ApiKey = "kept-key",
            CandidateSize = 64,
            Faults = new MjMcp.Sandbox.SandboxFaults { Submit = new MjMcp.Sandbox.FaultRates { Latency = TimeSpan.FromSeconds(3) } },
        });
        await using var server = await ServerProcess.StartAsync(sandbox);
        var call = server.CallAsync("imagine", new System.Text.Json.Nodes.JsonObject { ["prompt"] = "kept", ["wait_seconds"] = 5 });

        // While the submit is on its way (the intent is already written), another process locks the journal for writing.
        for (var i = 0; i < 600 && sandbox.Counters.Requests("/imagine") == 0; i++)
        {
            await Task.Delay(20);
        }

        Assert.Equal(1, sandbox.Counters.Requests("/imagine"));
        using (var locker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(server.DataDir, "journal.db")};Pooling=False"))
        {
            locker.Open();
            using var begin = locker.CreateCommand();
            begin.CommandText = "BEGIN EXCLUSIVE;";
            begin.ExecuteNonQuery();
            var result = await call;
            using var rollback = locker.CreateCommand();
            rollback.CommandText = "ROLLBACK;";
            rollback.ExecuteNonQuery();

            Assert.True(result.IsError);
            var structured = result.StructuredContent!.Value;
            Assert.Equal("journal_write_failed", structured.GetProperty("error").GetProperty("code").GetString());
            var taskId = structured.GetProperty("task_id").GetString();
            Assert.False(string.IsNullOrEmpty(taskId));
            Assert.Equal(1, sandbox.Counters.AcceptedSubmissions);

            // The task_id the caller kept works once the journal is writable again.
            var finished = await server.OkAsync("wait_task", new System.Text.Json.Nodes.JsonObject { ["task_id"] = taskId });
            Assert.Equal("finished", finished.GetProperty("state").GetString());
        }
    }

    private static ProcessStartInfo ServerStart(string dataDir, string[] extra)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Paths.ServerDll(), "--data-dir", dataDir, "--sandbox-timing", "instant" }.Concat(extra))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("MJMCP_API_KEY");
        return start;
    }

    private static async Task<(int Exit, string Stderr)> RunServerAsync(string dataDir, string[] extra, TimeSpan timeout)
    {
        using var process = Process.Start(ServerStart(dataDir, extra))!;
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(timeout);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        _ = process.StandardOutput.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stderr);
    }
}
