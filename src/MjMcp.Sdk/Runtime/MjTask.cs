namespace MjMcp;

/// <summary>A finished task of a workflow stage (grid, upscaled, …): its id and image URLs.</summary>
public abstract record MjTask
{
    /// <summary>The provider's task id.</summary>
    public required string TaskId { get; init; }

    /// <summary>The provider's task_type (imagine, upscale#2, pan-left, …).</summary>
    public required string TaskType { get; init; }

    /// <summary>The spec operation that made it (imagine, upscale-1x, …), when the task type is known.</summary>
    public string? Operation { get; init; }

    /// <summary>The spec name of the stage (grid, upscaled, hires, image).</summary>
    public abstract string Stage { get; }

    /// <summary>The image URLs: four for a grid (index 1-4 in order), one otherwise.</summary>
    public required IReadOnlyList<string> ImageUrls { get; init; }

    /// <summary>For a grid, the URL of the combined 2x2 image.</summary>
    public string? OriginalImageUrl { get; init; }
}

/// <summary>A finished task that carries data instead of images (seed, prompts, …).</summary>
public abstract record MjResult
{
    /// <summary>The provider's task id.</summary>
    public required string TaskId { get; init; }

    /// <summary>The provider's task_type.</summary>
    public required string TaskType { get; init; }

    /// <summary>The spec name of the result kind.</summary>
    public abstract string Kind { get; }
}
