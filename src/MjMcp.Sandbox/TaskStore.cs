using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MjMcp.Sandbox;

/// <summary>A task of the sandbox, as stored.</summary>
internal sealed class SandboxTask
{
    public required string Id { get; init; }

    public required string Operation { get; init; }

    public required string TaskType { get; init; }

    public string? ParentId { get; init; }

    public string Prompt { get; init; } = string.Empty;

    public long Seed { get; init; }

    /// <summary>grid, upscaled, hires, image; null for data results.</summary>
    public string? Stage { get; init; }

    public DateTimeOffset CreatedAt { get; init; }

    public Dictionary<string, string> Params { get; init; } = [];

    public bool Rendered { get; set; }

    public string? Error { get; set; }

    /// <summary>Image names under images/{id}/, e.g. grid, 1..4 or image.</summary>
    public List<string> Images { get; set; } = [];

    public string? SeedValue { get; set; }

    public List<string>? Content { get; set; }

    public string? FullContent { get; set; }

    public long Bytes { get; set; }

    /// <summary>Made by an operation served from <see cref="SandboxOptions.Spec"/>: its stage and operation are remembered, not derived.</summary>
    public bool SpecMade { get; init; }

    /// <summary>For spec-made tasks: the images of its stage (0 for a result).</summary>
    public int ImageCount { get; init; }

    /// <summary>For spec-made results: text fields by wire name.</summary>
    public Dictionary<string, string>? ResultText { get; set; }

    /// <summary>For spec-made results: list fields by wire name.</summary>
    public Dictionary<string, List<string>>? ResultLists { get; set; }

    [JsonIgnore]
    public string? WebhookUrl { get; set; }

    [JsonIgnore]
    public string? WebhookSecret { get; set; }

    [JsonIgnore]
    public List<byte[]>? Inputs { get; set; }
}

[JsonSerializable(typeof(SandboxTask))]
[JsonSourceGenerationOptions(WriteIndented = false, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class SandboxJsonContext : JsonSerializerContext
{
}

/// <summary>
/// Tasks in memory and on disk: tasks/{id}.json (written to a temporary file, then renamed) and
/// images/{id}/{name}.png. A new sandbox on the same directory knows every earlier task.
/// </summary>
internal sealed class TaskStore
{
    private readonly ConcurrentDictionary<string, SandboxTask> _tasks = new(StringComparer.Ordinal);
    private readonly string _root;
    private readonly long _maxBytes;
    private readonly object _evictLock = new();

    public TaskStore(string root, long maxBytes)
    {
        _root = root;
        _maxBytes = maxBytes;
        Directory.CreateDirectory(Path.Combine(root, "tasks"));
        Directory.CreateDirectory(Path.Combine(root, "images"));
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "tasks"), "*.json"))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(file), SandboxJsonContext.Default.SandboxTask) is { } task)
                {
                    _tasks[task.Id] = task;
                }
            }
            catch (JsonException)
            {
                // A torn file cannot happen (atomic rename); anything else unreadable is skipped.
            }
        }
    }

    public IEnumerable<SandboxTask> All => _tasks.Values;

    public SandboxTask? Get(string id) => _tasks.TryGetValue(id, out var task) ? task : null;

    public void Save(SandboxTask task)
    {
        _tasks[task.Id] = task;
        var path = Path.Combine(_root, "tasks", task.Id + ".json");
        var temp = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(task, SandboxJsonContext.Default.SandboxTask));
        File.Move(temp, path, overwrite: true);
    }

    public string ImagePath(string taskId, string name) => Path.Combine(_root, "images", taskId, name + ".png");

    public long WriteImage(string taskId, string name, byte[] png)
    {
        var path = ImagePath(taskId, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, png);
        File.Move(temp, path, overwrite: true);
        return png.Length;
    }

    /// <summary>Deletes the oldest finished tasks and their images while the store is over its limit.</summary>
    public void Evict()
    {
        lock (_evictLock)
        {
            var total = _tasks.Values.Sum(t => t.Bytes);
            foreach (var task in _tasks.Values.Where(t => t.Rendered || t.Error is not null).OrderBy(t => t.CreatedAt).ToList())
            {
                if (total <= _maxBytes)
                {
                    break;
                }

                total -= task.Bytes;
                _tasks.TryRemove(task.Id, out _);
                TryDelete(() => File.Delete(Path.Combine(_root, "tasks", task.Id + ".json")));
                TryDelete(() => Directory.Delete(Path.Combine(_root, "images", task.Id), recursive: true));
            }
        }
    }

    private static void TryDelete(Action delete)
    {
        try
        {
            delete();
        }
        catch (IOException)
        {
        }
    }
}
