using System.Text;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace MjMcp.Server;

/// <summary>
/// Resources: <c>mj://tasks/{id}</c> (the task as JSON, from the journal) and
/// <c>mj://tasks/{id}/preview.png</c> (a small PNG of its image). Reflection-free.
/// </summary>
public sealed class TaskResource : McpServerResource
{
    private const string Prefix = "mj://tasks/";
    private readonly bool _preview;

    private TaskResource(bool preview)
    {
        _preview = preview;
        ProtocolResourceTemplate = preview
            ? new ResourceTemplate { Name = "task_preview", Title = "Task preview", UriTemplate = Prefix + "{id}/preview.png", MimeType = PreviewService.MimeType, Description = $"A light JPEG preview (at most {PreviewService.MaxSide} px, {PreviewService.MaxBytes / 1024} KB) of a finished image task; a grid's quadrants are numbered 1-4. (The .png name is kept for existing clients.)" }
            : new ResourceTemplate { Name = "task", Title = "Task", UriTemplate = Prefix + "{id}", MimeType = "application/json", Description = "A task as the journal knows it: operation, stage, status, parent, images, next actions." };
    }

    /// <summary>A link to the preview resource of task <paramref name="taskId"/>, for a tool result (MJMCP_PREVIEWS=link).</summary>
    public static ResourceLinkBlock PreviewLink(string taskId) => new()
    {
        Uri = Prefix + taskId + "/preview.png",
        Name = "task_preview",
        Title = "Preview of " + taskId,
        MimeType = PreviewService.MimeType,
        Description = $"A light JPEG preview (at most {PreviewService.MaxSide} px) of this task's image, made when read; a grid's quadrants are numbered 1-4.",
    };

    /// <summary>Both task resources.</summary>
    public static IEnumerable<McpServerResource> All() => [new TaskResource(false), new TaskResource(true)];

    /// <inheritdoc/>
    public override ResourceTemplate ProtocolResourceTemplate { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<object> Metadata { get; } = [];

    /// <inheritdoc/>
    public override bool IsMatch(string uri) => Id(uri) is not null;

    /// <inheritdoc/>
    public override async ValueTask<ReadResourceResult> ReadAsync(RequestContext<ReadResourceRequestParams> request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var uri = request.Params?.Uri ?? string.Empty;
        var id = Id(uri) ?? throw new ModelContextProtocol.McpException($"Not a task resource: {uri}. Use mj://tasks/<task_id>.");
        var services = request.Services ?? throw new InvalidOperationException("No service provider.");
        var journal = services.GetRequiredService<ITaskJournal>();
        var record = journal.Get(id) is { } known && TaskCaller.Of(request).Sees(known) ? known : throw new ModelContextProtocol.McpProtocolException($"No task '{id}' in the journal. list_tasks shows the known ones.", ModelContextProtocol.McpErrorCode.ResourceNotFound);
        var finished = record.ResultJson is { } json ? FetchResponse.Parse(Encoding.UTF8.GetBytes(json)) : null;
        var rules = services.GetRequiredService<McpSpec>().Rules;
        if (finished is not null && Stale(services, TaskView.ImageUrls(rules, record, finished)))
        {
            finished = await RefreshAsync(services, id, cancellationToken).ConfigureAwait(false) ?? finished;
        }

        if (_preview)
        {
            var (url, grid) = finished is null ? (null, false) : PreviewService.Choose(TaskView.ImageUrls(rules, record, finished), finished.OriginalImageUrl);
            var bytes = url is null ? null : await services.GetRequiredService<PreviewService>().TryGetAsync(url, id, grid, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                throw new ModelContextProtocol.McpException(finished is null
                    ? $"Task '{id}' has no image to preview yet. Call wait_task with task_id \"{id}\" until it is finished."
                    : $"The image of task '{id}' could not be fetched for a preview; its URLs are in mj://tasks/{id}.");
            }

            return new ReadResourceResult { Contents = [BlobResourceContents.FromBytes(bytes, uri, PreviewService.MimeType)] };
        }

        var actions = record.State == Rules.TaskState.Finished ? FixPlanner.NextActions(rules, record.TaskId, record.Stage, record.Operation) : [];
        var element = TaskView.Task(rules, record, finished, actions, null);
        return new ReadResourceResult { Contents = [new TextResourceContents { Uri = uri, MimeType = "application/json", Text = element.GetRawText() }] };
    }

    /// <summary>
    /// Whether stored image URLs point at a loopback provider that is no longer the one in use (an embedded sandbox that
    /// had to move to another port since the task finished): such URLs no longer answer, so the task is read again.
    /// </summary>
    private static bool Stale(IServiceProvider services, IReadOnlyList<string> urls)
    {
        var current = services.GetService<Microsoft.Extensions.Options.IOptions<MidjourneyOptions>>()?.Value.BaseUrl;
        return current is { IsLoopback: true } && urls.Any(u =>
            Uri.TryCreate(u, UriKind.Absolute, out var url) && url.IsLoopback && !string.Equals(url.Authority, current.Authority, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The task as the provider reports it now (fresh image URLs), or null when it cannot say.</summary>
    private static async Task<FetchResponse?> RefreshAsync(IServiceProvider services, string id, CancellationToken cancellationToken)
    {
        try
        {
            var response = await services.GetRequiredService<MjClient>().FetchAsync(id, cancellationToken).ConfigureAwait(false);
            return response.ImageUrl is null && response.ImageUrls is not { Count: > 0 } && response.OriginalImageUrl is null ? null : response;
        }
        catch (MjException) when (!cancellationToken.IsCancellationRequested)
        {
            return null; // the stored task is still shown
        }
    }

    private string? Id(string uri)
    {
        if (!uri.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return null;
        }

        var rest = uri[Prefix.Length..];
        if (_preview)
        {
            return rest.EndsWith("/preview.png", StringComparison.Ordinal) && rest.Length > "/preview.png".Length ? rest[..^"/preview.png".Length] : null;
        }

        return rest.Length > 0 && !rest.Contains('/', StringComparison.Ordinal) ? rest : null;
    }
}

/// <summary>A prompt that teaches an agent the Midjourney workflow and these tools, written from the rule table.</summary>
/// <param name="rules">The spec's rule table.</param>
public sealed class WorkflowPrompt(MjMcp.Rules.SpecRules rules) : McpServerPrompt
{
    /// <summary>The workflow, in the words an agent needs (<see cref="WorkflowGuide.Prompt"/>).</summary>
    public string Text { get; } = WorkflowGuide.Prompt(rules);

    /// <inheritdoc/>
    public override Prompt ProtocolPrompt { get; } = new()
    {
        Name = "midjourney_workflow",
        Title = "How to use the Midjourney tools",
        Description = "Explains the grid → upscale → refine workflow and how to read next_actions.",
    };

    /// <inheritdoc/>
    public override IReadOnlyList<object> Metadata { get; } = [];

    /// <inheritdoc/>
    public override ValueTask<GetPromptResult> GetAsync(RequestContext<GetPromptRequestParams> request, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(new GetPromptResult
        {
            Description = ProtocolPrompt.Description,
            Messages = [new PromptMessage { Role = Role.User, Content = new TextContentBlock { Text = Text } }],
        });
}
