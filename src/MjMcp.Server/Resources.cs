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
            ? new ResourceTemplate { Name = "task_preview", Title = "Task preview", UriTemplate = Prefix + "{id}/preview.png", MimeType = "image/png", Description = "A small PNG preview of a finished image task." }
            : new ResourceTemplate { Name = "task", Title = "Task", UriTemplate = Prefix + "{id}", MimeType = "application/json", Description = "A task as the journal knows it: operation, stage, status, parent, images, next actions." };
    }

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
        var journal = services.GetRequiredService<TaskJournal>();
        var record = journal.Get(id) ?? throw new ModelContextProtocol.McpException($"No task '{id}' in the journal. list_tasks shows the known ones.");
        var finished = record.ResultJson is { } json ? FetchResponse.Parse(Encoding.UTF8.GetBytes(json)) : null;
        var rules = services.GetRequiredService<McpSpec>().Rules;
        if (_preview)
        {
            var urls = finished is null ? [] : TaskView.ImageUrls(rules, record, finished);
            var url = urls.Count > 1 ? finished!.OriginalImageUrl ?? urls[0] : urls.FirstOrDefault();
            var bytes = url is null ? null : await services.GetRequiredService<PreviewService>().TryGetAsync(url, cancellationToken).ConfigureAwait(false);
            if (bytes is null)
            {
                throw new ModelContextProtocol.McpException($"Task '{id}' has no image to preview yet.");
            }

            return new ReadResourceResult { Contents = [BlobResourceContents.FromBytes(bytes, uri, "image/png")] };
        }

        var actions = record.State == Rules.TaskState.Finished ? TaskView.NextActions(rules, record.TaskId, record.Stage, record.Operation) : [];
        var element = TaskView.Task(rules, record, finished, actions, null);
        return new ReadResourceResult { Contents = [new TextResourceContents { Uri = uri, MimeType = "application/json", Text = element.GetRawText() }] };
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
