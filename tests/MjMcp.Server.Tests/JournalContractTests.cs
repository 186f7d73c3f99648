using System.Text;
using Microsoft.Extensions.Time.Testing;
using MjMcp.Rules;

namespace MjMcp.Server.Tests;

/// <summary>
/// What every task journal must do, whatever stores it: the write-ahead intents, the tasks and their final states, the
/// spend reservations, the schema. Run for SQLite (<see cref="SqliteJournalContractTests"/>) and PostgreSQL
/// (<see cref="PostgresJournalContractTests"/>).
/// </summary>
public abstract class JournalContractTests
{
    private static SpecRules Rules => MidjourneySpec.Rules;

    /// <summary>A new, empty store (a file, a database) for journals of this kind.</summary>
    protected abstract Task<string> NewStoreAsync();

    /// <summary>A journal on <paramref name="store"/>; several may share one store, like servers or replicas.</summary>
    protected abstract SqlTaskJournal Open(string store, TimeProvider? time = null);

    private async Task<SqlTaskJournal> NewJournalAsync(TimeProvider? time = null) => Open(await NewStoreAsync(), time);

    internal static FetchResponse Update(string taskId, string status, string taskType = "imagine", int percentage = 40) =>
        FetchResponse.Parse(Encoding.UTF8.GetBytes(status switch
        {
            "finished" => $$"""{"task_id":"{{taskId}}","task_type":"{{taskType}}","status":"finished","original_image_url":"http://127.0.0.1:1/g.png","image_urls":["http://127.0.0.1:1/1.png","http://127.0.0.1:1/2.png","http://127.0.0.1:1/3.png","http://127.0.0.1:1/4.png"]}""",
            "failed" => $$"""{"task_id":"{{taskId}}","task_type":"{{taskType}}","status":"failed","error":"banned prompt"}""",
            _ => $$"""{"task_id":"{{taskId}}","task_type":"{{taskType}}","status":"{{status}}","percentage":"{{percentage}}"}""",
        }));

    [Fact]
    public async Task AnIntentIsWrittenBeforeTheSubmitAndCompletedOnAcceptance()
    {
        using var journal = await NewJournalAsync();
        var imagine = MidjourneySpec.Imagine;
        var intent = journal.BeginIntent(imagine, null, """{"prompt":"a fox"}""", owner: "alice");
        var written = journal.GetIntent(intent)!;
        Assert.Equal(IntentState.Sending, written.State);
        Assert.Equal("""{"prompt":"a fox"}""", written.Arguments);
        Assert.Equal("alice", written.Owner);
        Assert.Empty(journal.UncertainIntents()); // sending, but young: not yet counted as uncertain

        journal.AcceptIntent(intent, "t-1", imagine, null);
        var accepted = journal.GetIntent(intent)!;
        Assert.Equal(IntentState.Accepted, accepted.State);
        Assert.Equal("t-1", accepted.TaskId);
        var task = journal.Get("t-1")!;
        Assert.Equal("grid", task.Stage);
        Assert.Equal("alice", task.Owner); // the task is owned by its intent's owner
        Assert.Equal(TaskState.Pending, task.State);
        Assert.Null(journal.GetIntent("i-unknown"));
    }

    [Fact]
    public async Task AnUncertainIntentIsListedAndALateWebhookRecoversIt()
    {
        using var journal = await NewJournalAsync();
        var intent = journal.BeginIntent(MidjourneySpec.Imagine, null, """{"prompt":"a fox"}""");
        journal.MarkIntentUncertain(intent, "connection lost after sending");
        var listed = Assert.Single(journal.UncertainIntents());
        Assert.Equal(intent, listed.IntentId);
        Assert.Equal(IntentState.Uncertain, listed.State);
        Assert.Equal("connection lost after sending", listed.Error);
        Assert.Equal(0, journal.RecoveredIntents());

        // The provider's callback names the intent in its URL: the orphan gets its task.
        Assert.True(journal.ApplyWebhook(Update("t-9", "processing"), intent, Rules));
        Assert.Empty(journal.UncertainIntents());
        Assert.Equal("t-9", journal.GetIntent(intent)!.TaskId);
        Assert.Equal(IntentState.Accepted, journal.GetIntent(intent)!.State);
        Assert.Equal("imagine", journal.Get("t-9")!.Operation);
        Assert.Equal(1, journal.RecoveredIntents());

        // A replay of the same callback changes nothing.
        Assert.True(journal.ApplyWebhook(Update("t-9", "processing"), intent, Rules));
        Assert.Equal(1, journal.RecoveredIntents());
    }

    [Fact]
    public async Task AnIntentNotSentIsClosedAndNeverListedAsUncertain()
    {
        using var journal = await NewJournalAsync();
        var intent = journal.BeginIntent(MidjourneySpec.Imagine, null, "{}");
        journal.MarkIntentNotSent(intent, "connection refused");
        Assert.Equal(IntentState.NotSent, journal.GetIntent(intent)!.State);

        // Final: a later "uncertain" (a confused caller) does not reopen it.
        journal.MarkIntentUncertain(intent, "late");
        Assert.Equal(IntentState.NotSent, journal.GetIntent(intent)!.State);
        Assert.Empty(journal.UncertainIntents());
    }

    [Fact]
    public async Task ASendingIntentBecomesUncertainAfterTheGraceAndTheListIsNewestFirstPerOwner()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        using var journal = await NewJournalAsync(time);
        var old = journal.BeginIntent(MidjourneySpec.Imagine, null, "{}", owner: "alice");
        time.Advance(TimeSpan.FromSeconds(30));
        var older = journal.BeginIntent(MidjourneySpec.Imagine, null, "{}", owner: "bob");
        time.Advance(TaskJournalDefaults.SendingGrace - TimeSpan.FromSeconds(31));
        Assert.Empty(journal.UncertainIntents()); // both within the grace: their senders may still be sending

        time.Advance(TimeSpan.FromSeconds(2));
        var one = Assert.Single(journal.UncertainIntents());
        Assert.Equal(old, one.IntentId);
        Assert.Equal(IntentState.Uncertain, one.State); // the sender died: reported as uncertain

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal([older, old], journal.UncertainIntents().Select(i => i.IntentId));
        Assert.Equal([older], journal.UncertainIntents(owner: "bob").Select(i => i.IntentId));
        Assert.Equal([older], journal.UncertainIntents(limit: 1).Select(i => i.IntentId));
    }

    [Fact]
    public async Task FetchesUpdateATaskAndFinishedIsFinal()
    {
        using var journal = await NewJournalAsync();
        journal.RecordSubmitted("t-2", MidjourneySpec.Imagine, null);
        var submitted = journal.Get("t-2")!;
        Assert.Equal(("submitted", TaskState.Pending, 0), (submitted.Status, submitted.State, submitted.Percentage));

        journal.ApplyFetch(Update("t-2", "processing", percentage: 40), Rules);
        var running = journal.Get("t-2")!;
        Assert.Equal((TaskState.Running, 40), (running.State, running.Percentage));
        Assert.Single(journal.Unfinished());

        journal.ApplyFetch(Update("t-2", "finished"), Rules);
        journal.ApplyFetch(Update("t-2", "failed"), Rules);
        journal.ApplyWebhook(Update("t-2", "processing"), null, Rules);
        journal.UpdateProgress(new TaskProgress("t-2", TaskState.Running, "processing", 50));
        journal.MarkFailed("t-2", "late failure");
        var record = journal.Get("t-2")!;
        Assert.Equal(TaskState.Finished, record.State);
        Assert.Equal(100, record.Percentage);
        Assert.Null(record.Error);
        Assert.Contains("image_urls", record.ResultJson, StringComparison.Ordinal);
        Assert.Empty(journal.Unfinished());
    }

    [Fact]
    public async Task FailedIsFinalAndKeepsTheProvidersReason()
    {
        using var journal = await NewJournalAsync();
        journal.RecordSubmitted("t-3", MidjourneySpec.Imagine, null);
        journal.ApplyFetch(Update("t-3", "failed"), Rules);
        Assert.Equal((TaskState.Failed, "banned prompt"), (journal.Get("t-3")!.State, journal.Get("t-3")!.Error));
        journal.ApplyFetch(Update("t-3", "finished"), Rules);
        Assert.Equal(TaskState.Failed, journal.Get("t-3")!.State);

        journal.RecordSubmitted("t-4", MidjourneySpec.Imagine, null);
        journal.MarkFailed("t-4", "moderated");
        Assert.Equal((TaskState.Failed, "moderated"), (journal.Get("t-4")!.State, journal.Get("t-4")!.Error));
    }

    [Fact]
    public async Task ProgressIsRecordedForUnfinishedTasksOnly()
    {
        using var journal = await NewJournalAsync();
        journal.RecordSubmitted("t-5", MidjourneySpec.Imagine, null);
        journal.UpdateProgress(new TaskProgress("t-5", TaskState.Running, "processing", 63));
        Assert.Equal((TaskState.Running, 63, "processing"), (journal.Get("t-5")!.State, journal.Get("t-5")!.Percentage, journal.Get("t-5")!.Status));
        journal.UpdateProgress(new TaskProgress("t-5", TaskState.Pending, "staged", null));
        Assert.Null(journal.Get("t-5")!.Percentage);

        // A "finished" progress is not a result: the task waits for its /fetch reply.
        journal.UpdateProgress(new TaskProgress("t-5", TaskState.Finished, "finished", 100));
        Assert.Equal(TaskState.Pending, journal.Get("t-5")!.State);
    }

    [Fact]
    public async Task AnUpdateForAnUnknownTaskIsIgnored()
    {
        using var journal = await NewJournalAsync();
        Assert.False(journal.ApplyWebhook(Update("stranger", "finished"), null, Rules));
        Assert.False(journal.ApplyWebhook(Update("stranger", "finished"), "i-not-an-intent", Rules));
        Assert.Null(journal.Get("stranger"));
        Assert.Empty(journal.List(null, 10));
    }

    [Fact]
    public async Task AWebhookBeforeTheSubmitsReplyKeepsTheParentFromTheSubmit()
    {
        using var journal = await NewJournalAsync();
        journal.RecordSubmitted("grid", MidjourneySpec.Imagine, null);
        var intent = journal.BeginIntent(MidjourneySpec.Rules.FindOperation("upscale-1x")!, "grid", "{}");

        // The provider's first callback arrives before the submit's reply.
        journal.ApplyFetch(Update("up", "processing", "upscale-1x"), Rules);
        journal.AcceptIntent(intent, "up", MidjourneySpec.Rules.FindOperation("upscale-1x")!, "grid");
        var up = journal.Get("up")!;
        Assert.Equal("grid", up.ParentTaskId);
        Assert.Equal("upscaled", up.Stage);
        Assert.Equal(TaskState.Running, up.State);
    }

    [Fact]
    public async Task ChildrenAncestorsAndListings()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
        using var journal = await NewJournalAsync(time);
        var upscale = Rules.FindOperation("upscale-1x")!;
        var highres = Rules.FindOperation("upscale-highres")!;
        journal.RecordSubmitted("g1", MidjourneySpec.Imagine, null, owner: "alice");
        journal.RecordSubmitted("u1", upscale, "g1", owner: "alice");
        journal.RecordSubmitted("u2", upscale, "g1", owner: "bob");
        journal.RecordSubmitted("h1", highres, "u1", owner: "alice");

        // Written in the same instant: the order of writing decides.
        Assert.Equal(["u1", "u2"], journal.Children("g1").Select(t => t.TaskId));
        Assert.Equal(["u1", "g1"], journal.Ancestors("h1").Select(t => t.TaskId));
        Assert.Empty(journal.Ancestors("g1"));
        Assert.Empty(journal.Children("h1"));

        time.Advance(TimeSpan.FromSeconds(1));
        journal.RecordSubmitted("g2", MidjourneySpec.Imagine, null, owner: "bob");
        Assert.Equal(["g2", "h1", "u2", "u1", "g1"], journal.List(null, 10).Select(t => t.TaskId));
        Assert.Equal(["g2", "g1"], journal.List("grid", 10).Select(t => t.TaskId));
        Assert.Equal(["u2", "u1"], journal.List("upscaled", 10).Select(t => t.TaskId));
        Assert.Equal(["h1", "u1", "g1"], journal.List(null, 10, owner: "alice").Select(t => t.TaskId));
        Assert.Equal(["g2", "h1"], journal.List(null, 2).Select(t => t.TaskId));
        Assert.Equal(5, journal.Unfinished().Count);
    }

    [Fact]
    public async Task ReservationsCountAgainstBothBudgetsAndANotSentIntentReleasesItsCredits()
    {
        using var journal = await NewJournalAsync();
        string Intent() => journal.BeginIntent(MidjourneySpec.Imagine, null, "{}");
        var first = journal.ReserveSpend(Intent(), "p1", "imagine", 4, processBudget: 10, dayBudget: 12);
        Assert.Equal((4L, 4L, (SpendBudget?)null), (first.ProcessSpent, first.DaySpent, first.ExceededBudget));
        Assert.Equal(journal.Day(), first.Day);

        var second = journal.ReserveSpend(Intent(), "p1", "imagine", 4, 10, 12);
        Assert.Equal((8L, 8L), (second.ProcessSpent, second.DaySpent));

        // Over the process's budget: refused, the intent closed as not sent, the spend unchanged.
        var refusedIntent = Intent();
        var refused = journal.ReserveSpend(refusedIntent, "p1", "imagine", 4, 10, 12);
        Assert.Equal((SpendBudget?)SpendBudget.Process, refused.ExceededBudget);
        Assert.Equal((8L, 8L), (refused.ProcessSpent, refused.DaySpent));
        Assert.Equal(IntentState.NotSent, journal.GetIntent(refusedIntent)!.State);

        // Another process shares the day's budget only.
        var other = journal.ReserveSpend(Intent(), "p2", "imagine", 4, 10, 12);
        Assert.Equal((4L, 12L, (SpendBudget?)null), (other.ProcessSpent, other.DaySpent, other.ExceededBudget));
        Assert.Equal((SpendBudget?)SpendBudget.Day, journal.ReserveSpend(Intent(), "p2", "imagine", 1, 10, 12).ExceededBudget);

        // A submit that reached nobody gives its credits back.
        var released = Intent();
        journal.ReserveSpend(released, "p3", "imagine", 2, null, null);
        Assert.Equal(14L, journal.Spent("p3").DaySpent);
        journal.MarkIntentNotSent(released, "refused by the provider");
        Assert.Equal((0L, 12L), (journal.Spent("p3").ProcessSpent, journal.Spent("p3").DaySpent));
        Assert.Equal(8L, journal.Spent("p1").ProcessSpent);
    }

    [Fact]
    public async Task ConcurrentReservationsFromManyThreadsAndJournalsNeverPassTheBudget()
    {
        var store = await NewStoreAsync();
        var journals = Enumerable.Range(0, 3).Select(_ => Open(store)).ToList();
        try
        {
            var granted = 0;
            var intents = journals.SelectMany(j => Enumerable.Range(0, 8).Select(_ => (Journal: j, Intent: j.BeginIntent(MidjourneySpec.Imagine, null, "{}")))).ToList();
            using var start = new ManualResetEventSlim();
            var threads = intents.Select((pair, i) => new Thread(() =>
            {
                start.Wait();
                if (pair.Journal.ReserveSpend(pair.Intent, "p" + (i % 4), "imagine", 3, null, 20).ExceededBudget is null)
                {
                    Interlocked.Increment(ref granted);
                }
            })).ToList();
            threads.ForEach(t => t.Start());
            start.Set();
            threads.ForEach(t => t.Join());

            Assert.Equal(6, granted); // 6 × 3 = 18 ≤ 20 < 21
            Assert.Equal(18L, journals[0].Spent("p0").DaySpent);
            Assert.Equal(intents.Count - 6, intents.Count(p => journals[0].GetIntent(p.Intent)!.State == IntentState.NotSent));
        }
        finally
        {
            journals.ForEach(j => j.Dispose());
        }
    }

    [Fact]
    public async Task ASecondJournalOnTheSameStoreSeesEverythingAndTheSchemaIsCurrent()
    {
        var store = await NewStoreAsync();
        using var one = Open(store);
        using var two = Open(store);
        one.RecordSubmitted("shared", MidjourneySpec.Imagine, null);
        Assert.Equal("grid", two.Get("shared")!.Stage);
        Assert.Equal(2, one.SchemaVersion());
        Assert.Equal(2, two.SchemaVersion());
    }
}

/// <summary>The journal contract on SQLite, plus what only a file journal has (an old file's migration).</summary>
public sealed class SqliteJournalContractTests : JournalContractTests
{
    protected override Task<string> NewStoreAsync() => Task.FromResult(Path.Combine(Paths.TempDir("journal"), "journal.db"));

    protected override SqlTaskJournal Open(string store, TimeProvider? time = null) => new SqliteTaskJournal(store, time);

    [Fact]
    public void AJournalWrittenBeforeSchemaVersionsOpensAndGainsOwners()
    {
        var path = Path.Combine(Paths.TempDir("journal-v1"), "journal.db");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();

            // The first shipped journal: its tables, no schema_version, no owner columns.
            command.CommandText = """
                CREATE TABLE tasks (task_id TEXT PRIMARY KEY, operation TEXT NOT NULL, stage TEXT, result_kind TEXT, parent_id TEXT, status TEXT, state TEXT NOT NULL, percentage INTEGER, task_type TEXT, result_json TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
                CREATE TABLE intents (intent_id TEXT PRIMARY KEY, operation TEXT NOT NULL, parent_id TEXT, arguments TEXT NOT NULL, state TEXT NOT NULL, task_id TEXT, error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
                CREATE TABLE spend (intent_id TEXT PRIMARY KEY, process_id TEXT NOT NULL, day TEXT NOT NULL, operation TEXT NOT NULL, credits INTEGER NOT NULL, created_at TEXT NOT NULL);
                INSERT INTO tasks VALUES ('old-grid', 'imagine', 'grid', NULL, NULL, 'finished', 'Finished', 100, 'imagine', '{}', NULL, '2026-01-01T00:00:00.0000000+00:00', '2026-01-01T00:00:00.0000000+00:00');
                """;
            command.ExecuteNonQuery();
        }

        using var journal = new SqliteTaskJournal(path);
        Assert.Equal(2, journal.SchemaVersion());
        var old = journal.Get("old-grid")!;
        Assert.Equal((TaskState.Finished, (string?)null), (old.State, old.Owner));
        journal.RecordSubmitted("new-up", MidjourneySpec.Rules.FindOperation("upscale-1x")!, "old-grid", owner: "alice");
        Assert.Equal("alice", journal.Get("new-up")!.Owner);
        Assert.Equal(["old-grid"], journal.Ancestors("new-up").Select(t => t.TaskId));
    }
}

/// <summary>The journal contract on PostgreSQL (a database per journal store), plus its start-up error.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresJournalContractTests(PostgresFixture postgres) : JournalContractTests
{
    protected override Task<string> NewStoreAsync() => postgres.CreateDatabaseAsync("contract");

    protected override SqlTaskJournal Open(string store, TimeProvider? time = null) => new PostgresTaskJournal(store, time);

    [Fact]
    public void AnUnreachableDatabaseIsAOneLineErrorNamingTheSettingWithoutThePassword()
    {
        var port = postgres.Port == 1 ? 2 : 1;
        var ex = Assert.Throws<JournalUnusableException>(() => new PostgresTaskJournal($"Host=127.0.0.1;Port={port};Database=nowhere;Username=u;Password=hunter2-secret;Timeout=2"));
        Assert.Contains("MJMCP_JOURNAL", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Database=nowhere", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
    }

    [Fact]
    public void AMissingDatabaseIsTheSameKindOfError()
    {
        var ex = Assert.Throws<JournalUnusableException>(() => new PostgresTaskJournal(postgres.ConnectionString("no_such_database")));
        Assert.Contains("no_such_database", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MJMCP_JOURNAL", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReplicasStartingAtOnceMigrateOnce()
    {
        var store = await NewStoreAsync();
        var journals = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() => new PostgresTaskJournal(store))));
        try
        {
            Assert.All(journals, j => Assert.Equal(2, j.SchemaVersion()));
            await using var connection = new Npgsql.NpgsqlConnection(store);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("SELECT COUNT(*) FROM schema_version", connection);
            Assert.Equal(2L, await command.ExecuteScalarAsync());
        }
        finally
        {
            foreach (var journal in journals)
            {
                journal.Dispose();
            }
        }
    }

    [Fact]
    public async Task AWebhookAppliedByOneReplicaIsAnnouncedToTheOthers()
    {
        var store = await NewStoreAsync();
        using var a = new PostgresTaskJournal(store);
        using var b = new PostgresTaskJournal(store);
        var heard = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.TaskChanged += id => heard.TrySetResult(id);
        using var stop = new CancellationTokenSource();
        var listening = a.ListenAsync(null, stop.Token);
        await a.Listening.Task.WaitAsync(TimeSpan.FromSeconds(30));

        b.RecordSubmitted("t-n", MidjourneySpec.Imagine, null);
        Assert.True(b.ApplyWebhook(Update("t-n", "finished"), null, MidjourneySpec.Rules));
        Assert.Equal("t-n", await heard.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        await stop.CancelAsync();
        await listening;
    }

    [Fact]
    public async Task JobSlotsHoldTheLimitAcrossReplicasFirstComeFirstServedAndDieWithTheirSession()
    {
        var store = await NewStoreAsync();
        using var a = new PostgresTaskJournal(store);
        using var b = new PostgresTaskJournal(store);
        await using var slotsA = new PostgresJobSlots(a, 2);
        await using var slotsB = new PostgresJobSlots(b, 2);
        var one = await slotsA.AcquireAsync(TimeSpan.FromSeconds(10), null, default);
        var two = await slotsB.AcquireAsync(TimeSpan.FromSeconds(10), null, default);
        Assert.NotNull(one);
        Assert.NotNull(two);

        // Full: a third waits its bound out and gets nothing.
        Assert.Null(await slotsA.AcquireAsync(TimeSpan.FromMilliseconds(300), null, default));

        // Two wait in line; the first to come is the first served, and each was told how many are ahead.
        var aheadOfFirst = new List<int>();
        var aheadOfSecond = new List<int>();
        var first = slotsB.AcquireAsync(TimeSpan.FromSeconds(30), n => { lock (aheadOfFirst) { aheadOfFirst.Add(n); } }, default);
        await WaitUntilAsync(() => { lock (aheadOfFirst) { return aheadOfFirst.Count > 0; } });
        var second = slotsA.AcquireAsync(TimeSpan.FromSeconds(30), n => { lock (aheadOfSecond) { aheadOfSecond.Add(n); } }, default);
        await WaitUntilAsync(() => { lock (aheadOfSecond) { return aheadOfSecond.Count > 0; } });
        Assert.Equal(0, aheadOfFirst[0]);
        Assert.Equal(1, aheadOfSecond[0]);

        await one!.DisposeAsync();
        var firstSlot = await first.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(firstSlot);
        Assert.False(second.IsCompleted);

        // A replica that dies frees its slots with its session: here the slot's connection is killed from outside.
        await using (var admin = new Npgsql.NpgsqlConnection(store))
        {
            await admin.OpenAsync();
            await using var kill = new Npgsql.NpgsqlCommand("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() LIMIT 1", admin);
            await kill.ExecuteScalarAsync();
        }

        var secondSlot = await second.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(secondSlot);
        await firstSlot!.DisposeAsync();
        await secondSlot!.DisposeAsync();
        await two!.DisposeAsync();
    }

    [Fact]
    public async Task ReplicasStartedWithDifferentCapsHoldToTheOneStartedLast()
    {
        var store = await NewStoreAsync();
        using var a = new PostgresTaskJournal(store);
        using var b = new PostgresTaskJournal(store);
        await using var slotsA = new PostgresJobSlots(a, 3);
        await using var slotsB = new PostgresJobSlots(b, 1); // Started last: the cap for both.
        var one = await slotsA.AcquireAsync(TimeSpan.FromSeconds(10), null, default);
        Assert.NotNull(one);
        Assert.Equal((1, 1), (slotsA.Limit, slotsB.Limit));

        // A, started with 3, takes no second slot while B's cap of 1 is held; B neither.
        Assert.Null(await slotsA.AcquireAsync(TimeSpan.FromMilliseconds(300), null, default));
        Assert.Null(await slotsB.AcquireAsync(TimeSpan.FromMilliseconds(300), null, default));

        // A replica restarted with 2 raises it for everyone.
        await using var restarted = new PostgresJobSlots(b, 2);
        var two = await slotsA.AcquireAsync(TimeSpan.FromSeconds(10), null, default);
        Assert.NotNull(two);
        Assert.Null(await slotsB.AcquireAsync(TimeSpan.FromMilliseconds(300), null, default));
        Assert.Equal((2, 2), (slotsA.Limit, slotsB.Limit));
        await one!.DisposeAsync();
        await two!.DisposeAsync();
    }

    [Fact]
    public async Task ADeadReplicasIntentsAreReportedAndRecoveredByAnother()
    {
        var store = await NewStoreAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var dead = new PostgresTaskJournal(store, time);
        using var alive = new PostgresTaskJournal(store, time);
        var sending = dead.BeginIntent(MidjourneySpec.Imagine, null, """{"prompt":"died while sending"}""");
        var orphan = dead.BeginIntent(MidjourneySpec.Imagine, null, """{"prompt":"died after sending"}""");
        Assert.Empty(alive.UncertainIntents());

        // Past the grace, the other replica reports both as uncertain...
        time.Advance(TaskJournalDefaults.SendingGrace + TimeSpan.FromSeconds(1));
        Assert.Equal(2, alive.UncertainIntents().Count);

        // ...and recovers the one whose webhook it receives.
        Assert.True(alive.ApplyWebhook(Update("t-orphan", "processing"), orphan, MidjourneySpec.Rules));
        Assert.Equal([sending], alive.UncertainIntents().Select(i => i.IntentId));
        Assert.Equal("t-orphan", dead.GetIntent(orphan)!.TaskId);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting for a condition");
            await Task.Delay(20);
        }
    }
}
