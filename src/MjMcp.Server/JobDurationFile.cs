using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MjMcp.Server;

/// <summary>
/// Keeps the client's memory of job durations (<see cref="MjClient.SnapshotJobDurations"/>: the last 5 finished jobs
/// of each operation, which plan the polls of later waits) in <c>job-durations.json</c> in the data directory, so a
/// restarted server plans its first waits like the old one planned its later ones. Written after each job learned
/// (to a temporary file, then renamed over the old one: a reader never sees half a file), read at start. A missing,
/// corrupt or foreign file is ignored (debug log): the memory then starts empty, as it did before this file existed.
/// Each HTTP replica keeps its own data directory and so its own file (the memory is per client anyway).
/// </summary>
/// <remarks>Hand-written over Utf8JsonWriter/JsonDocument: a dozen lines, no reflection (NativeAOT), and a format this file owns.</remarks>
internal static partial class JobDurationFile
{
    public const string FileName = "job-durations.json";

    /// <summary>A larger file is not ours (the memory is a few KB: 5 jobs per operation).</summary>
    private const int MaxBytes = 64 * 1024;

    private const int Version = 1;

    private static readonly Lock WriteLock = new();

    /// <summary>Loads the file into <paramref name="client"/> and saves it again each time the client learns a job.</summary>
    public static TClient Attach<TClient>(TClient client, string dataDir, ILogger? logger)
        where TClient : MjClient
    {
        var log = logger ?? NullLogger.Instance;
        var path = Path.Combine(dataDir, FileName);
        var restored = client.RestoreJobDurations(Load(path, client.Rules.Operations.Select(o => o.Name).ToHashSet(StringComparer.Ordinal), log));
        if (restored > 0)
        {
            Log.Restored(log, restored, path);
        }

        client.JobDurationLearned += (_, _) => Save(client, path, log);
        return client;
    }

    /// <summary>The jobs in the file, of operations the spec has; none when the file is missing or not ours.</summary>
    public static IReadOnlyList<JobDuration> Load(string path, IReadOnlySet<string> operations, ILogger logger)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return [];
            }

            if (info.Length > MaxBytes)
            {
                Log.Ignored(logger, path, "larger than 64 KB");
                return [];
            }

            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.Ignored(logger, path, ex.Message);
            return [];
        }

        try
        {
            using var document = JsonDocument.Parse(bytes);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("version", out var version) || version.ValueKind != JsonValueKind.Number || version.GetInt32() != Version ||
                !root.TryGetProperty("jobs", out var jobs) || jobs.ValueKind != JsonValueKind.Array)
            {
                Log.Ignored(logger, path, "not a version 1 job-duration file");
                return [];
            }

            var result = new List<JobDuration>();
            foreach (var job in jobs.EnumerateArray())
            {
                if (job.ValueKind == JsonValueKind.Object &&
                    job.TryGetProperty("operation", out var operation) && operation.ValueKind == JsonValueKind.String && operation.GetString() is { } name && operations.Contains(name) &&
                    job.TryGetProperty("queue_seconds", out var queue) && queue.ValueKind == JsonValueKind.Number && queue.TryGetDouble(out var queueSeconds) &&
                    job.TryGetProperty("run_seconds", out var run) && run.ValueKind == JsonValueKind.Number && run.TryGetDouble(out var runSeconds) &&
                    Math.Abs(queueSeconds) < 1e6 && Math.Abs(runSeconds) < 1e6)
                {
                    // Implausible values (negative, zero run, over a day) are dropped by RestoreJobDurations. in_flight came
                    // later: a file without it was written by jobs measured one at a time as far as it knows.
                    var inFlight = job.TryGetProperty("in_flight", out var load) && load.ValueKind == JsonValueKind.Number && load.TryGetInt32(out var count) && count >= 1 ? count : 1;
                    result.Add(new JobDuration(name, TimeSpan.FromSeconds(queueSeconds), TimeSpan.FromSeconds(runSeconds), inFlight));
                }
            }

            return result;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            Log.Ignored(logger, path, ex.Message);
            return [];
        }
    }

    /// <summary>Writes the client's memory aside, then renames it over the file; a failure is logged (debug) and otherwise ignored.</summary>
    public static void Save(MjClient client, string path, ILogger logger)
    {
        var temporary = path + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            lock (WriteLock)
            {
                using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
                {
                    writer.WriteStartObject();
                    writer.WriteNumber("version", Version);
                    writer.WriteStartArray("jobs");
                    foreach (var job in client.SnapshotJobDurations())
                    {
                        writer.WriteStartObject();
                        writer.WriteString("operation", job.Operation);
                        writer.WriteNumber("queue_seconds", Math.Round(job.Queue.TotalSeconds, 3));
                        writer.WriteNumber("run_seconds", Math.Round(job.Run.TotalSeconds, 3));
                        writer.WriteNumber("in_flight", job.InFlight);
                        writer.WriteEndObject();
                    }

                    writer.WriteEndArray();
                    writer.WriteEndObject();
                }

                File.Move(temporary, path, overwrite: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.NotSaved(logger, path, ex.Message);
            try
            {
                File.Delete(temporary);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                Log.NotSaved(logger, temporary, cleanup.Message);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Debug, "Restored {Count} remembered job durations from {Path}")]
        public static partial void Restored(ILogger logger, int count, string path);

        [LoggerMessage(2, LogLevel.Debug, "Ignored {Path} (the job-duration memory starts empty): {Reason}")]
        public static partial void Ignored(ILogger logger, string path, string reason);

        [LoggerMessage(3, LogLevel.Debug, "Could not save the job-duration memory to {Path}: {Reason}")]
        public static partial void NotSaved(ILogger logger, string path, string reason);
    }
}
