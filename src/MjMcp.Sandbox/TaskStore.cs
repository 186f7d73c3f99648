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

    /// <summary>When a client first sees it finished or failed (set when it is made); eviction counts its age from here.</summary>
    public DateTimeOffset? FinishedAt { get; set; }

    public Dictionary<string, string> Params { get; init; } = [];

    public bool Rendered { get; set; }

    public string? Error { get; set; }

    /// <summary>Image names under images/{id}/, e.g. grid, 1..4 or image.</summary>
    public List<string> Images { get; set; } = [];

    public string? SeedValue { get; set; }

    public List<string>? Content { get; set; }

    public string? FullContent { get; set; }

    /// <summary>Bytes of its images on disk (its JSON is counted by the store).</summary>
    public long Bytes { get; set; }

    [JsonIgnore]
    public bool IsDone => Rendered || Error is not null;

    /// <summary>Made by an operation served from <see cref="SandboxOptions.Spec"/>: its stage and operation are remembered, not derived.</summary>
    public bool SpecMade { get; init; }

    /// <summary>For spec-made tasks: the images of its stage (0 for a result).</summary>
    public int ImageCount { get; init; }

    /// <summary>For spec-made results: text fields by wire name.</summary>
    public Dictionary<string, string>? ResultText { get; set; }

    /// <summary>For spec-made results: list fields by wire name.</summary>
    public Dictionary<string, List<string>>? ResultLists { get; set; }

    /// <summary>Extended statuses: the statuses of the queue phase in order (pending first), each an equal share of it; null: pending only.</summary>
    public List<string>? QueueStatuses { get; set; }

    /// <summary>Extended statuses: a retrying episode from this fraction of the running phase to <see cref="RetryTo"/>; null: none.</summary>
    public double? RetryFrom { get; set; }

    /// <summary>Where the retrying episode ends (a fraction of the running phase).</summary>
    public double? RetryTo { get; set; }

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
/// <remarks>
/// Storage is bounded by <c>maxBytes</c>, counting every byte it writes (images and task JSON). Eviction removes the
/// oldest finished tasks first, from an ordered set (O(log n) per change, no sort), and never removes
/// <list type="bullet">
/// <item>a task that an unfinished task depends on: its parent chain is pinned from acceptance until it is done;</item>
/// <item>a finished task younger than <c>minRetention</c> (counted from <see cref="SandboxTask.FinishedAt"/>).</item>
/// </list>
/// When only such tasks remain, the store stays above its limit until they may go (a soft limit).
/// </remarks>
internal sealed class TaskStore
{
    private const int MaxChain = 10_000;

    private readonly ConcurrentDictionary<string, SandboxTask> _tasks = new(StringComparer.Ordinal);
    private readonly string _root;
    private readonly long _maxBytes;
    private readonly TimeSpan _minRetention;
    private readonly TimeProvider _time;
    private readonly object _lock = new();

    // Guarded by _lock.
    private readonly Dictionary<string, long> _jsonBytes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _pins = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<string>> _held = new(StringComparer.Ordinal);
    private readonly SortedSet<(long Ticks, string Id)> _evictable = new(EvictionOrder.Instance);
    private long _totalBytes;

    public TaskStore(string root, long maxBytes, TimeSpan minRetention, TimeProvider time)
    {
        _root = root;
        _maxBytes = maxBytes;
        _minRetention = minRetention;
        _time = time;
        Directory.CreateDirectory(Path.Combine(root, "tasks"));
        Directory.CreateDirectory(Path.Combine(root, "images"));
        foreach (var file in Directory.EnumerateFiles(Path.Combine(root, "tasks"), "*.json"))
        {
            try
            {
                var bytes = File.ReadAllBytes(file);
                if (JsonSerializer.Deserialize(bytes, SandboxJsonContext.Default.SandboxTask) is { } task)
                {
                    _tasks[task.Id] = task;
                    _jsonBytes[task.Id] = bytes.Length;
                    _totalBytes += bytes.Length + task.Bytes;
                }
            }
            catch (JsonException)
            {
                // A torn file cannot happen (atomic rename); anything else unreadable is skipped.
            }
        }

        lock (_lock)
        {
            foreach (var task in _tasks.Values.Where(t => !t.IsDone))
            {
                Hold(task);
            }

            foreach (var task in _tasks.Values.Where(t => t.IsDone))
            {
                MakeEvictableIfFree(task.Id);
            }
        }
    }

    public IEnumerable<SandboxTask> All => _tasks.Values;

    /// <summary>Every byte the store holds (images and task JSON), for tests.</summary>
    public long TotalBytes
    {
        get
        {
            lock (_lock)
            {
                return _totalBytes;
            }
        }
    }

    public SandboxTask? Get(string id) => _tasks.TryGetValue(id, out var task) ? task : null;

    /// <summary>
    /// Stores a newly accepted task and, while it is unfinished, pins its parent chain. False (nothing stored) when its
    /// parent is no longer stored.
    /// </summary>
    public bool TryAdd(SandboxTask task)
    {
        lock (_lock)
        {
            if (task.ParentId is { } parentId && !_tasks.ContainsKey(parentId))
            {
                return false;
            }

            WriteJson(task);
            _tasks[task.Id] = task;
            if (task.IsDone)
            {
                MakeEvictableIfFree(task.Id);
            }
            else
            {
                Hold(task);
            }

            return true;
        }
    }

    /// <summary>Writes a changed task; once it is done, its parent chain is released and it may be evicted (after its retention).</summary>
    public void Save(SandboxTask task)
    {
        lock (_lock)
        {
            if (!_tasks.ContainsKey(task.Id))
            {
                return;
            }

            WriteJson(task);
            if (task.IsDone)
            {
                Release(task.Id);
                MakeEvictableIfFree(task.Id);
            }
        }
    }

    public string ImagePath(string taskId, string name) => Path.Combine(_root, "images", taskId, name + ".png");

    public long WriteImage(string taskId, string name, byte[] png)
    {
        var path = ImagePath(taskId, name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = TempPath(path);
        File.WriteAllBytes(temp, png);
        File.Move(temp, path, overwrite: true);
        lock (_lock)
        {
            _totalBytes += png.Length;
        }

        return png.Length;
    }

    /// <summary>Where the light preview of image <paramref name="name"/> goes (beside it; evicted with it).</summary>
    public string PreviewPath(string taskId, string name, bool numbered) => Path.Combine(_root, "images", taskId, name + (numbered ? ".preview-numbered.jpg" : ".preview.jpg"));

    /// <summary>Writes an image by streaming it to its file (a temporary file, then renamed); returns its size.</summary>
    public long WriteImage(string taskId, string name, Action<Stream> write) => WriteFile(ImagePath(taskId, name), write);

    /// <summary>Writes a file of a task's image directory by streaming it (a temporary file, then renamed); counts and returns its size.</summary>
    public long WriteFile(string path, Action<Stream> write)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temp = TempPath(path);
        long length;
        using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1 << 16))
        {
            write(file);
            length = file.Length;
        }

        File.Move(temp, path, overwrite: true);
        lock (_lock)
        {
            _totalBytes += length;
        }

        return length;
    }

    /// <summary>
    /// A temporary name of its own for each write: two writers of one file (a sandbox restarted on the same directory
    /// re-renders an unfinished task while the old process may still be rendering it) each rename their own complete
    /// file, and the last rename wins; a shared ".tmp" name let one writer move the other's file away (FileNotFoundException).
    /// </summary>
    private static string TempPath(string path) => path + "." + Guid.NewGuid().ToString("N") + ".tmp";

    /// <summary>Deletes the oldest finished, unpinned tasks past their retention while the store is over its limit.</summary>
    public void Evict()
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow().UtcTicks;
            while (_totalBytes > _maxBytes && _evictable.Count > 0)
            {
                var oldest = _evictable.Min;
                if (now - oldest.Ticks < _minRetention.Ticks)
                {
                    break;
                }

                _evictable.Remove(oldest);
                if (!_tasks.TryRemove(oldest.Id, out var task))
                {
                    continue;
                }

                _totalBytes -= task.Bytes + _jsonBytes.GetValueOrDefault(oldest.Id);
                _jsonBytes.Remove(oldest.Id);
                TryDelete(() => File.Delete(Path.Combine(_root, "tasks", task.Id + ".json")));
                TryDelete(() => Directory.Delete(Path.Combine(_root, "images", task.Id), recursive: true));
            }
        }
    }

    private void WriteJson(SandboxTask task)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(task, SandboxJsonContext.Default.SandboxTask);
        var path = Path.Combine(_root, "tasks", task.Id + ".json");
        var temp = TempPath(path);
        File.WriteAllBytes(temp, json);
        File.Move(temp, path, overwrite: true);
        _totalBytes += json.Length - _jsonBytes.GetValueOrDefault(task.Id);
        _jsonBytes[task.Id] = json.Length;
    }

    /// <summary>Pins the parent chain of an unfinished task.</summary>
    private void Hold(SandboxTask task)
    {
        if (_held.ContainsKey(task.Id))
        {
            return;
        }

        var chain = new List<string>();
        var id = task.ParentId;
        while (id is not null && chain.Count < MaxChain && !chain.Contains(id) && _tasks.TryGetValue(id, out var parent))
        {
            chain.Add(id);
            _pins[id] = _pins.GetValueOrDefault(id) + 1;
            if (parent.IsDone)
            {
                _evictable.Remove((Key(parent), id));
            }

            id = parent.ParentId;
        }

        _held[task.Id] = chain;
    }

    private void Release(string taskId)
    {
        if (!_held.Remove(taskId, out var chain))
        {
            return;
        }

        foreach (var id in chain)
        {
            var pins = _pins.GetValueOrDefault(id) - 1;
            if (pins > 0)
            {
                _pins[id] = pins;
                continue;
            }

            _pins.Remove(id);
            MakeEvictableIfFree(id);
        }
    }

    private void MakeEvictableIfFree(string id)
    {
        if (!_pins.ContainsKey(id) && _tasks.TryGetValue(id, out var task) && task.IsDone)
        {
            _evictable.Add((Key(task), id));
        }
    }

    private static long Key(SandboxTask task) => (task.FinishedAt ?? task.CreatedAt).UtcTicks;

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

    /// <summary>Oldest first; ties by id (ordinal).</summary>
    private sealed class EvictionOrder : IComparer<(long Ticks, string Id)>
    {
        public static EvictionOrder Instance { get; } = new();

        public int Compare((long Ticks, string Id) x, (long Ticks, string Id) y) =>
            x.Ticks != y.Ticks ? x.Ticks.CompareTo(y.Ticks) : string.CompareOrdinal(x.Id, y.Id);
    }
}
