using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using MjMcp.Imaging;

namespace MjMcp.Sandbox;

/// <summary>
/// One hand-written operation of the provider, everything the sandbox knows about it in one row: its path, credits, the
/// stage it produces, the stages its parent may have, whether moderation reads its prompt, its checks (the provider's own,
/// independent of the spec) and its rendering (null: it completes at once without images).
/// </summary>
internal sealed record HandWrittenOperation(
    string Name,
    int Credits,
    string? Stage,
    string[] ParentStages,
    bool Moderated,
    Func<SandboxServer, HandWrittenOperation, JsonElement, CancellationToken, Task<Draft>> Check,
    Action<SandboxServer, SandboxTask, Func<string, RgbaImage>>? Render,
    (string Param, FrozenDictionary<string, int> Values)? CreditsBy = null)
{
    public string Path => "/" + Name;

    /// <summary>What the task costs: the credits of its value of <see cref="CreditsBy"/> when the price depends on one, else <see cref="Credits"/>.</summary>
    public int CreditsOf(SandboxTask task) =>
        CreditsBy is { } by && task.Params.TryGetValue(by.Param, out var value) && by.Values.TryGetValue(value, out var credits) ? credits : Credits;
}

/// <summary>What an operation's checks make of a request, before the task exists.</summary>
internal sealed class Draft
{
    public Dictionary<string, string> Parameters { get; } = new(StringComparer.Ordinal);

    public SandboxTask? Parent { get; set; }

    public string Prompt { get; set; } = string.Empty;

    public string? TaskType { get; set; }

    public List<byte[]>? Inputs { get; set; }
}

public sealed partial class SandboxServer
{
    private static readonly string[] AnyImage = ["grid", "upscaled", "hires", "image"];

    /// <summary>The table of the operations the sandbox imitates by hand.</summary>
    internal static readonly HandWrittenOperation[] HandWritten =
    [
        new("imagine", 4, "grid", [], true, (s, _, b, _) => Task.FromResult(s.CheckImagine(b)), (s, t, _) => s.RenderCandidates(t, null)),
        new("reroll", 4, "grid", ["grid"], true, (s, o, b, _) => Task.FromResult(s.CheckReroll(o, b)), (s, t, _) => s.RenderCandidates(t, s._store.Get(t.ParentId!))),
        new("variations", 4, "grid", ["grid", "upscaled"], true, (s, o, b, _) => Task.FromResult(s.CheckVariations(o, b)), (s, t, p) => RenderVariations(s, t, p)),
        new("upscale-1x", 2, "upscaled", ["grid"], true, (s, o, b, _) => Task.FromResult(s.CheckUpscale1x(o, b)), (s, t, p) => s.SaveImage(t, "image", p(t.Params["index"]))),
        new("upscale-alt", 4, "hires", ["upscaled"], true, (s, o, b, _) => Task.FromResult(s.CheckTyped(o, b, "type", ["subtle", "creative"], "upscale-")),
            (s, t, p) => s.SaveImage(t, "image", Pictures.UpscaleAlt(p("image"), t.Params["type"] == "creative", t.Seed))),
        new("upscale-highres", 2, "hires", ["upscaled", "grid"], true, (s, o, b, ct) => s.CheckHighresAsync(o, b, ct),
            (s, t, p) => s.SaveImage(t, "image", Pictures.UpscaleHighres(
                t.Inputs is { Count: > 0 } inputs ? PngCodec.Decode(inputs[0]) : p(t.Params.TryGetValue("index", out var index) ? index : "image"),
                t.Params["type"] == "4x" ? 4 : 2)),
            CreditsBy: ("type", new Dictionary<string, int>(StringComparer.Ordinal) { ["2x"] = 1, ["4x"] = 2 }.ToFrozenDictionary(StringComparer.Ordinal))),
        new("inpaint", 4, "grid", ["upscaled"], true, (s, o, b, _) => Task.FromResult(s.CheckInpaint(o, b)),
            (s, t, p) =>
            {
                var source = p("image");
                var mask = PngCodec.Decode(t.Inputs![0]);
                s.SaveGrid(t, v => Pictures.Inpaint(source, mask, t.Prompt, t.Seed, v));
            }),
        new("outpaint", 4, "grid", ["upscaled"], true, (s, o, b, _) => Task.FromResult(s.CheckOutpaint(o, b)),
            (s, t, p) =>
            {
                var source = p("image");
                var ratio = double.Parse(t.Params["zoom_ratio"], CultureInfo.InvariantCulture);
                s.SaveGrid(t, v => Pictures.ZoomOut(source, ratio, t.Prompt, t.Seed, v));
            }),
        new("pan", 4, "grid", ["upscaled"], true, (s, o, b, _) => Task.FromResult(s.CheckPan(o, b)),
            (s, t, p) =>
            {
                var source = p("image");
                var direction = Enum.Parse<Imaging.PanDirection>(t.Params["direction"], ignoreCase: true);
                var (width, height) = Pictures.PanSize(source.Width, source.Height, direction);
                s.SaveGrid(t, width, height, (grid, left, top, v) => Pictures.PanInto(grid, left, top, source, direction, t.Prompt, t.Seed, v));
            }),
        new("describe", 2, null, [], false, (s, _, b, ct) => s.CheckDescribeAsync(b, ct), (_, t, _) => t.Content = [.. Pictures.Describe(PngCodec.Decode(t.Inputs![0]))]),
        new("blend", 4, "grid", [], false, (s, _, b, ct) => s.CheckBlendAsync(b, ct),
            (s, t, _) =>
            {
                var images = t.Inputs!.Select(bytes => PngCodec.Decode(bytes)).ToList();
                var dimension = Enum.Parse<Imaging.BlendDimension>(t.Params["dimension"], ignoreCase: true);
                s.SaveGrid(t, v => Pictures.Blend(images, dimension, t.Seed, v));
            }),
        new("seed", 2, null, AnyImage, true, (s, o, b, _) => Task.FromResult(s.CheckSeed(o, b)), null),
        new("faceswap", 2, "image", [], false, (s, _, b, ct) => s.CheckFaceswapAsync(b, ct),
            (s, t, _) => s.SaveImage(t, "image", Pictures.FaceSwap(PngCodec.Decode(t.Inputs![0]), PngCodec.Decode(t.Inputs[1])))),
        new("shorten", 2, null, [], true, (_, _, b, _) => Task.FromResult(new Draft { Prompt = RequiredPrompt(b) }), null),
    ];

    /// <summary>The table by path.</summary>
    internal static readonly FrozenDictionary<string, HandWrittenOperation> HandWrittenByPath = HandWritten.ToFrozenDictionary(o => o.Path, StringComparer.Ordinal);

    /// <summary>The table by operation name.</summary>
    internal static readonly FrozenDictionary<string, HandWrittenOperation> HandWrittenByName = HandWritten.ToFrozenDictionary(o => o.Name, StringComparer.Ordinal);

    private Draft CheckImagine(JsonElement body)
    {
        var draft = new Draft { Prompt = RequiredPrompt(body) };
        if (Text(body, "aspect_ratio") is { } ratio)
        {
            var parts = ratio.Split(':');
            if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var aw) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ah) || aw < 1 || ah < 1 || aw > 100 || ah > 100)
            {
                throw new Rejection($"aspect_ratio '{ratio}' is invalid: use width:height such as 16:9.");
            }

            draft.Parameters["aspect_ratio"] = ratio;
        }

        return draft;
    }

    private Draft CheckReroll(HandWrittenOperation operation, JsonElement body)
    {
        var parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages);
        if (parent.Operation is not ("imagine" or "reroll"))
        {
            throw new Rejection($"parent_task_id '{parent.Id}' is a {parent.TaskType} task; /reroll needs an imagine (or reroll) task.");
        }

        return new Draft { Parent = parent, Prompt = Text(body, "prompt") ?? parent.Prompt };
    }

    private Draft CheckVariations(HandWrittenOperation operation, JsonElement body)
    {
        var index = Text(body, "index") ?? throw new Rejection("index is required: 1-4 for a grid parent, strong or subtle for an upscaled parent.");
        var draft = new Draft();
        if (index is "strong" or "subtle")
        {
            draft.Parent = Parent(body, "parent_task_id", operation.Name + " with index " + index, ["upscaled"]);
            draft.TaskType = "variation-" + index;
        }
        else
        {
            var position = GridIndex(index, "index");
            draft.Parent = Parent(body, "parent_task_id", operation.Name + " with index 1-4", ["grid"]);
            draft.TaskType = "variation-" + position.ToString(CultureInfo.InvariantCulture);
        }

        draft.Parameters["index"] = index;
        draft.Prompt = Text(body, "prompt") ?? draft.Parent.Prompt;
        return draft;
    }

    private Draft CheckUpscale1x(HandWrittenOperation operation, JsonElement body)
    {
        var position = GridIndex(Text(body, "index") ?? throw new Rejection("index is required: 1-4."), "index");
        var draft = new Draft { Parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages) };
        draft.Parameters["index"] = position.ToString(CultureInfo.InvariantCulture);
        draft.TaskType = "upscale#" + draft.Parameters["index"];
        draft.Prompt = draft.Parent.Prompt;
        return draft;
    }

    /// <summary>upscale-alt and upscale-highres: one enum field and a parent; the task type is the prefix and the value.</summary>
    private Draft CheckTyped(HandWrittenOperation operation, JsonElement body, string field, string[] allowed, string taskTypePrefix)
    {
        var value = OneOf(body, field, allowed);
        var draft = new Draft { Parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages) };
        draft.Parameters[field] = value;
        draft.TaskType = taskTypePrefix + value;
        draft.Prompt = draft.Parent.Prompt;
        return draft;
    }

    /// <summary>
    /// upscale-highres, as the provider documents it: exactly one of parent_task_id (an upscale-1x image, or a grid with
    /// index 1-4) or image_url (at most 2048x2048), and type 2x or 4x.
    /// </summary>
    private async Task<Draft> CheckHighresAsync(HandWrittenOperation operation, JsonElement body, CancellationToken cancellationToken)
    {
        var type = OneOf(body, "type", ["2x", "4x"]);
        var parentId = Text(body, "parent_task_id");
        var url = Text(body, "image_url");
        if (parentId is not null && url is not null)
        {
            throw new Rejection("Give either parent_task_id or image_url, not both.");
        }

        var draft = new Draft { TaskType = "upscale-highres-" + type };
        draft.Parameters["type"] = type;
        if (parentId is null)
        {
            if (url is null)
            {
                throw new Rejection("parent_task_id or image_url is required: the task_id of a finished upscaled or grid task, or an image URL.");
            }

            var bytes = await ReadImageAsync(CheckImageUrl(url, "image_url"), "image_url", cancellationToken).ConfigureAwait(false);
            var image = PngCodec.Decode(bytes);
            if (image.Width > 2048 || image.Height > 2048)
            {
                throw new Rejection($"image_url is {image.Width}x{image.Height}: /upscale-highres takes images of at most 2048x2048.");
            }

            draft.Inputs = [bytes];
            draft.Prompt = url;
            return draft;
        }

        draft.Parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages);
        if (draft.Parent.Stage == "grid")
        {
            var position = GridIndex(Text(body, "index") ?? throw new Rejection("index is required with a grid parent: 1-4, the grid image to upscale."), "index");
            draft.Parameters["index"] = position.ToString(CultureInfo.InvariantCulture);
        }

        draft.Prompt = draft.Parent.Prompt;
        return draft;
    }

    private Draft CheckPan(HandWrittenOperation operation, JsonElement body)
    {
        var direction = OneOf(body, "direction", ["up", "down", "left", "right"]);
        var draft = new Draft { Parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages) };
        draft.Parameters["direction"] = direction;
        draft.TaskType = "pan-" + direction;
        draft.Prompt = Text(body, "prompt") ?? draft.Parent.Prompt;
        return draft;
    }

    private Draft CheckOutpaint(HandWrittenOperation operation, JsonElement body)
    {
        var text = Text(body, "zoom_ratio") ?? throw new Rejection("zoom_ratio is required: 1 (make square) or a number above 1 up to 2.");
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var zoom) || zoom < 1 || zoom > 2)
        {
            throw new Rejection($"zoom_ratio '{text}' is out of range: use 1 (make square) or a number above 1 up to 2.");
        }

        var draft = new Draft { Parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages) };
        draft.Parameters["zoom_ratio"] = zoom.ToString("R", CultureInfo.InvariantCulture);
        draft.TaskType = "outpaint-" + draft.Parameters["zoom_ratio"];
        draft.Prompt = Text(body, "prompt") ?? draft.Parent.Prompt;
        return draft;
    }

    private Draft CheckInpaint(HandWrittenOperation operation, JsonElement body)
    {
        var mask = Text(body, "mask") ?? throw new Rejection("mask is required: a PNG (base64 or data: URL), white where to redraw.");
        var bytes = DecodeBase64Image(mask, "mask");
        var parent = Parent(body, "parent_task_id", operation.Name, operation.ParentStages);
        return new Draft { Parent = parent, Inputs = [bytes], Prompt = Text(body, "prompt") ?? parent.Prompt };
    }

    private Draft CheckSeed(HandWrittenOperation operation, JsonElement body)
    {
        var parent = Parent(body, "task_id", operation.Name, operation.ParentStages);
        return new Draft { Parent = parent, Prompt = parent.Prompt };
    }

    private async Task<Draft> CheckDescribeAsync(JsonElement body, CancellationToken cancellationToken)
    {
        var image = CheckImageUrl(Text(body, "image_url"), "image_url");
        return new Draft { Inputs = [await ReadImageAsync(image, "image_url", cancellationToken).ConfigureAwait(false)], Prompt = Text(body, "image_url")! };
    }

    private async Task<Draft> CheckFaceswapAsync(JsonElement body, CancellationToken cancellationToken)
    {
        // Both checked before either is read: a refused URL means nothing was fetched.
        var target = CheckImageUrl(Text(body, "target_image_url"), "target_image_url");
        var swap = CheckImageUrl(Text(body, "swap_image_url"), "swap_image_url");
        return new Draft
        {
            Inputs =
            [
                await ReadImageAsync(target, "target_image_url", cancellationToken).ConfigureAwait(false),
                await ReadImageAsync(swap, "swap_image_url", cancellationToken).ConfigureAwait(false),
            ],
            Prompt = Text(body, "target_image_url") + " " + Text(body, "swap_image_url"),
        };
    }

    private async Task<Draft> CheckBlendAsync(JsonElement body, CancellationToken cancellationToken)
    {
        if (!body.TryGetProperty("image_urls", out var urls) || urls.ValueKind != JsonValueKind.Array || urls.GetArrayLength() is < 2 or > 5)
        {
            throw new Rejection("image_urls must be a list of 2 to 5 image URLs.");
        }

        var draft = new Draft();
        draft.Parameters["dimension"] = Text(body, "dimension") is null ? "square" : OneOf(body, "dimension", ["square", "portrait", "landscape"]);

        // Every URL checked before any is read: a refused URL means nothing was fetched.
        var sources = urls.EnumerateArray().Select(url => CheckImageUrl(url.ValueKind == JsonValueKind.String ? url.GetString() : null, "image_urls")).ToList();
        draft.Inputs = [];
        foreach (var source in sources)
        {
            draft.Inputs.Add(await ReadImageAsync(source, "image_urls", cancellationToken).ConfigureAwait(false));
        }

        draft.Prompt = string.Join(" ", urls.EnumerateArray().Select(u => u.ToString()));
        return draft;
    }

    /// <summary>imagine and reroll: four fresh candidates at the aspect ratio of the task (or of its parent).</summary>
    private void RenderCandidates(SandboxTask task, SandboxTask? parent)
    {
        var (w, h) = Size(task.Params.GetValueOrDefault("aspect_ratio") ?? parent?.Params.GetValueOrDefault("aspect_ratio"), Options.CandidateSize);
        SaveGrid(task, w, h, (grid, left, top, v) => Pictures.CandidateInto(grid, left, top, task.Prompt, task.Seed, v, w, h));
    }

    private static void RenderVariations(SandboxServer server, SandboxTask task, Func<string, RgbaImage> parentImage)
    {
        var index = task.Params["index"];
        var strong = index == "strong";
        var source = index is "strong" or "subtle" ? parentImage("image") : parentImage(index);
        var amount = index == "subtle" ? 0.15f : strong ? 0.45f : 0.3f;
        server.SaveGrid(task, v => Mix(source, Pictures.Candidate(task.Prompt, task.Seed, v, source.Width, source.Height), amount));
    }
}
