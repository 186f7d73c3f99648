using System.Globalization;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>The journal a server uses, chosen by <see cref="MjMcpServerOptions.Journal"/>, and what replicas on a PostgreSQL journal share.</summary>
public static class JournalRegistration
{
    /// <summary>The journal of the settings: PostgreSQL when <see cref="MjMcpServerOptions.Journal"/> is a connection string, else SQLite in the data directory.</summary>
    /// <exception cref="JournalUnusableException">The journal cannot be opened (one line naming the file or the setting).</exception>
    public static ITaskJournal Open(MjMcpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Journal is { Length: > 0 } connectionString
            ? new PostgresTaskJournal(connectionString)
            : new SqliteTaskJournal(Path.Combine(options.DataDir, "journal.db"));
    }

    /// <summary>Registers <see cref="JobSlots"/> when <see cref="MjMcpServerOptions.MaxConcurrentJobs"/> is set: across replicas on PostgreSQL, else in this process.</summary>
    public static void AddJobSlots(IServiceCollection services, MjMcpServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxConcurrentJobs is not ({ } limit and > 0))
        {
            return;
        }

        // The gate owns (and disposes) its slot source.
        services.AddSingleton(sp =>
        {
            var journal = sp.GetRequiredService<ITaskJournal>();
            IJobSlotSource source = journal is PostgresTaskJournal pg ? new PostgresJobSlots(pg, limit) : new LocalJobSlots(limit);
            return new JobSlots(source, sp.GetRequiredService<MjClient>(), journal, sp.GetRequiredService<McpSpec>().Rules, sp.GetRequiredService<ILogger<JobSlots>>());
        });
    }

    /// <summary>The webhook secret every replica on a PostgreSQL journal shares (made by the first), or null for another journal.</summary>
    public static string? SharedWebhookSecret(ITaskJournal journal) =>
        journal is PostgresTaskJournal pg ? pg.SharedValue("webhook_secret", () => Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24))) : null;

    /// <summary>
    /// Starts what a replica needs beside its receiver: submits carry <paramref name="publicWebhookUrl"/> (a load
    /// balancer's, or another replica's receiver) when set, and, on a PostgreSQL journal, a listener wakes this replica's
    /// waiters when any replica applied a webhook to the journal (LISTEN/NOTIFY), and tells waiting submits a provider
    /// slot came free.
    /// </summary>
    public static ReplicaListener StartReplica(ITaskJournal journal, MjClient client, SpecRules rules, Uri? publicWebhookUrl, string? secret, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (publicWebhookUrl is not null && secret is not null)
        {
            client.UseWebhook(new WebhookTarget(publicWebhookUrl, secret));
        }

        return new ReplicaListener(journal, client, rules, logger);
    }
}

/// <summary>Wakes this replica's waiters when another replica applied a webhook to the shared PostgreSQL journal (see <see cref="JournalRegistration.StartReplica"/>).</summary>
public sealed partial class ReplicaListener : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _listening = Task.CompletedTask;
    private readonly PostgresTaskJournal? _journal;
    private readonly MjClient _client;
    private readonly SpecRules _rules;
    private readonly ILogger _logger;

    internal ReplicaListener(ITaskJournal journal, MjClient client, SpecRules rules, ILogger logger)
    {
        _client = client;
        _rules = rules;
        _logger = logger;
        if (journal is PostgresTaskJournal pg)
        {
            _journal = pg;
            pg.TaskChanged += OnTaskChanged;
            _listening = pg.ListenAsync(ex => Log.ListenProblem(logger, ex.Message), _stopping.Token);
        }
    }

    /// <summary>Updates handed to this replica's waiters from other replicas' webhooks (for tests and logs).</summary>
    public int Woken => Volatile.Read(ref _woken);

    private int _woken;

    private void OnTaskChanged(string taskId) => ThreadPool.QueueUserWorkItem(_ =>
    {
        try
        {
            if (_journal?.Get(taskId) is { } record && Update(record) is { } update)
            {
                Interlocked.Increment(ref _woken);
                _client.ReportUpdate(update);
            }
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or InvalidOperationException or MjException)
        {
            Log.ListenProblem(_logger, ex.Message);
        }
    });

    /// <summary>The task as a /fetch reply: the provider's own finished reply when the journal has it, else its status and progress.</summary>
    private FetchResponse? Update(TaskRecord record)
    {
        if (record.ResultJson is { } raw)
        {
            return FetchResponse.Parse(Encoding.UTF8.GetBytes(raw));
        }

        if (record.Status is null)
        {
            return null;
        }

        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WriteString("task_id", record.TaskId);
            writer.WriteString("task_type", record.TaskType ?? string.Empty);
            writer.WriteString("status", record.Status);
            if (record.Percentage is { } pct)
            {
                writer.WriteString("percentage", pct.ToString(CultureInfo.InvariantCulture));
            }

            if (record.Error is { } error)
            {
                writer.WriteString("error", error);
            }

            writer.WriteEndObject();
        }

        return FetchResponse.Parse(stream.ToArray());
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (_journal is { } pg)
        {
            pg.TaskChanged -= OnTaskChanged;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _listening.WaitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        _stopping.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Warning, "Listening for other replicas' task updates (PostgreSQL LISTEN): {Problem}; retrying")]
        public static partial void ListenProblem(ILogger logger, string problem);
    }
}
