using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly.CircuitBreaker;
using MjMcp.Rules;

namespace MjMcp;

/// <summary>
/// The runtime core of every MjMcp client: HTTP transport, error mapping, submission and waiting, driven by
/// a spec's rule table (<see cref="SpecRules"/>). This is the public seam between generated code and the
/// runtime: the generator emits a typed client (<c>MidjourneyClient</c> in the consumer's namespace) that
/// derives from this class and calls only <see cref="Submit{TResult}"/>; the MCP server uses
/// <see cref="SubmitRawAsync"/>. Nothing here knows an operation by name.
/// </summary>
public class MjClient
{
    /// <summary>The name of the HttpClient registered by AddMidjourneyClient.</summary>
    public const string HttpClientName = "MjMcp.Provider";

    private readonly HttpClient _http;
    private readonly MidjourneyOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TaskSignals _signals = new();
    private readonly SubmittedTasks _submitted = new();
    private readonly JobDurations _durations = new();
    private readonly Uri _baseUrl;
    private WebhookTarget? _webhook;

    /// <summary>
    /// Creates a client for the spec whose rule table is <paramref name="rules"/>, over <paramref name="httpClient"/>
    /// (its BaseAddress is not used: <see cref="MidjourneyOptions.BaseUrl"/>, else the spec's base URL, decides).
    /// </summary>
    public MjClient(HttpClient httpClient, MidjourneyOptions options, SpecRules rules, ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rules);
        _http = httpClient;
        _options = options;
        Rules = rules;
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        var baseUrl = options.BaseUrl ?? new Uri(rules.Provider.BaseUrl);
        _baseUrl = baseUrl.AbsoluteUri.EndsWith('/') ? baseUrl : new Uri(baseUrl.AbsoluteUri + "/");
    }

    /// <summary>The stage-rule table this client enforces.</summary>
    public SpecRules Rules { get; }

    /// <summary>What the last few finished jobs of <paramref name="operation"/> waited for by this client took (null: none yet).</summary>
    internal JobPrior? PriorOf(string operation, int inFlight = 1) => _durations.PriorOf(operation, inFlight);

    /// <summary>
    /// What this client remembers of finished jobs: the last 5 of each operation whose wait saw them end (oldest first
    /// within an operation). A wait for a task this client submitted plans its polls from the jobs of the same operation
    /// that ran at a like load (<see cref="JobDuration.InFlight"/>).
    /// Save this and hand it to <see cref="RestoreJobDurations"/> of a later client (after a restart) so that its first
    /// waits are planned like this one's later ones.
    /// </summary>
    public IReadOnlyList<JobDuration> SnapshotJobDurations() => _durations.Snapshot();

    /// <summary>
    /// Adds remembered jobs (from <see cref="SnapshotJobDurations"/>, usually of an earlier process), in order: the
    /// last 5 of each operation are kept. Entries that cannot be a job's (no operation, a negative queue, a run not
    /// above zero, a queue or run over a day) are skipped. Returns how many were kept.
    /// </summary>
    public int RestoreJobDurations(IEnumerable<JobDuration> durations)
    {
        ArgumentNullException.ThrowIfNull(durations);
        var kept = 0;
        foreach (var duration in durations)
        {
            if (duration is not null && _durations.Add(duration.Operation, new JobSample(duration.Queue, duration.Run, duration.InFlight)))
            {
                kept++;
            }
        }

        return kept;
    }

    /// <summary>
    /// Raised when a wait has learned how long a job took (once per finished task this client submitted, on the
    /// waiting thread, after the job is in <see cref="SnapshotJobDurations"/>): the moment to save the snapshot. A
    /// handler's exception is caught and recorded on the current activity: the wait still returns its finished task.
    /// </summary>
    public event EventHandler<JobDuration>? JobDurationLearned;

    /// <summary>The provider base URL in use.</summary>
    public Uri BaseUrl => _baseUrl;

    /// <summary>Fetches a task's current state.</summary>
    public async Task<FetchResponse> FetchAsync(string taskId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(taskId);
        using var activity = SdkTelemetry.Source.StartActivity("fetch", System.Diagnostics.ActivityKind.Client);
        activity?.SetTag(MjTelemetry.Tags.TaskId, taskId);
        try
        {
            var response = await FetchCoreAsync(taskId, cancellationToken).ConfigureAwait(false);
            activity?.SetTag(MjTelemetry.Tags.Status, response.Status);
            activity?.SetTag(MjTelemetry.Tags.State, SdkTelemetry.Name(Rules.StateOf(response.Status)));
            return response;
        }
        catch (Exception ex)
        {
            SdkTelemetry.Failed(activity, ex, "error");
            throw;
        }
    }

    private async Task<FetchResponse> FetchCoreAsync(string taskId, CancellationToken cancellationToken)
    {
        var body = WriteJson(w => w.WriteString("task_id", taskId));
        var reply = await SendAsync(HttpMethod.Post, Rules.Provider.FetchPath, body, isSubmit: false, cancellationToken).ConfigureAwait(false);
        return FetchResponse.Parse(reply);
    }

    /// <summary>Fetches several tasks at once (the provider takes 2-20 ids; fewer or more are split or fetched singly).</summary>
    public async Task<IReadOnlyList<FetchResponse>> FetchManyAsync(IReadOnlyList<string> taskIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(taskIds);
        var provider = Rules.Provider;
        var results = new List<FetchResponse>(taskIds.Count);
        foreach (var chunk in taskIds.Chunk(Math.Max(provider.FetchManyMax, 1)))
        {
            if (chunk.Length < provider.FetchManyMin)
            {
                foreach (var id in chunk)
                {
                    results.Add(await FetchAsync(id, cancellationToken).ConfigureAwait(false));
                }

                continue;
            }

            var body = WriteJson(w =>
            {
                w.WriteStartArray("task_ids");
                foreach (var id in chunk)
                {
                    w.WriteStringValue(id);
                }

                w.WriteEndArray();
            });
            var reply = await SendAsync(HttpMethod.Post, provider.FetchManyPath, body, isSubmit: false, cancellationToken).ConfigureAwait(false);
            using var document = JsonDocument.Parse(reply);
            if (!document.RootElement.TryGetProperty("tasks", out var tasks) || tasks.ValueKind != JsonValueKind.Array)
            {
                throw new MjProtocolException($"The provider's {provider.FetchManyPath} reply has no 'tasks' list.");
            }

            results.AddRange(tasks.EnumerateArray().Select(FetchResponse.Parse));
        }

        return results;
    }

    /// <summary>The account's credits and plan.</summary>
    public async Task<AccountInfo> GetAccountAsync(CancellationToken cancellationToken = default)
    {
        var reply = await SendAsync(HttpMethod.Get, Rules.Provider.AccountPath, null, isSubmit: false, cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(reply);
        return AccountInfo.Parse(document.RootElement);
    }

    /// <summary>The largest image <see cref="UploadAsync"/> sends: 20 MB.</summary>
    public const int MaxUploadBytes = 20 * 1024 * 1024;

    /// <summary>
    /// Uploads an image (PNG or JPEG) to the provider's upload endpoint (the spec's <c>provider.upload</c>) as
    /// multipart/form-data and returns its URL, valid as an image URL of describe, blend or faceswap. Like a
    /// submit it is never retried after a failure that may have reached the provider.
    /// </summary>
    /// <param name="image">The image bytes, read to the end (at most <see cref="MaxUploadBytes"/>).</param>
    /// <param name="fileName">The file name sent with the image (for example photo.png).</param>
    /// <param name="cancellationToken">Cancels the upload.</param>
    /// <exception cref="MjValidationException">The spec declares no upload, or the image is empty or larger than 20 MB.</exception>
    public async Task<Uri> UploadAsync(Stream image, string fileName, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        const string Operation = "upload";
        var provider = Rules.Provider;
        if (!provider.HasUpload)
        {
            throw new MjValidationException(Operation, [new ValidationProblem("upload", $"The spec of {provider.Name} declares no image upload (provider.upload); pass a public image URL instead.")]);
        }

        var bytes = await ReadAtMostAsync(image, MaxUploadBytes, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            throw new MjValidationException(Operation, [new ValidationProblem("image", "The image is larger than 20 MB; send a smaller PNG or JPEG.")]);
        }

        if (bytes.Length == 0)
        {
            throw new MjValidationException(Operation, [new ValidationProblem("image", "The image is empty; send a PNG or JPEG.")]);
        }

        var name = string.IsNullOrWhiteSpace(fileName) ? "image" + ImageExtension(bytes) : Path.GetFileName(fileName);
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(ImageMediaType(bytes));
        var form = new MultipartFormDataContent();
        form.Add(file, provider.UploadField!, name);
        var reply = await SendContentAsync(HttpMethod.Post, provider.UploadPath!, form, isSubmit: true, cancellationToken).ConfigureAwait(false);
        string? url = null;
        try
        {
            using var document = JsonDocument.Parse(reply);
            if (document.RootElement.ValueKind == JsonValueKind.Object &&
                document.RootElement.TryGetProperty(provider.UploadResultField!, out var value) &&
                value.ValueKind == JsonValueKind.String)
            {
                url = value.GetString();
            }
        }
        catch (JsonException)
        {
            url = null;
        }

        if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            throw new MjProtocolException($"The provider accepted {provider.UploadPath} but returned no URL in '{provider.UploadResultField}'.");
        }

        return uri;
    }

    /// <summary>Reads the stream to its end, or returns null once it holds more than <paramref name="limit"/> bytes.</summary>
    private static async Task<byte[]?> ReadAtMostAsync(Stream stream, int limit, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static bool IsPng(byte[] b) => b.Length >= 8 && b[0] == 0x89 && b[1] == (byte)'P' && b[2] == (byte)'N' && b[3] == (byte)'G';

    private static bool IsJpeg(byte[] b) => b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;

    private static string ImageMediaType(byte[] b) => IsPng(b) ? "image/png" : IsJpeg(b) ? "image/jpeg" : "application/octet-stream";

    private static string ImageExtension(byte[] b) => IsPng(b) ? ".png" : IsJpeg(b) ? ".jpg" : ".bin";

    /// <summary>Waits for any task by id and returns its finished /fetch reply (see <see cref="PendingTask{TResult}.WaitAsync(IProgress{TaskProgress}?, TimeSpan?, CancellationToken)"/>).</summary>
    public Task<FetchResponse> WaitAsync(string taskId, IProgress<TaskProgress>? progress = null, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        WaitForFinishedAsync(taskId, progress, timeout, cancellationToken);

    /// <summary>
    /// Hands the client an update that arrived by webhook: waiters for that task wake at once and use
    /// it without polling. Safe to call more than once with the same update.
    /// </summary>
    public void ReportUpdate(FetchResponse update)
    {
        ArgumentNullException.ThrowIfNull(update);
        using (var activity = SdkTelemetry.Source.StartActivity("webhook update"))
        {
            activity?.SetTag(MjTelemetry.Tags.TaskId, update.TaskId);
            activity?.SetTag(MjTelemetry.Tags.Status, update.Status);
            SdkTelemetry.WebhookUpdates.Add(1, new KeyValuePair<string, object?>(MjTelemetry.Tags.Status, update.Status));
        }

        _signals.Publish(update);
    }

    /// <summary>The webhook in use, if any: submissions without their own webhook_url carry its URL and secret.</summary>
    public WebhookTarget? Webhook => Volatile.Read(ref _webhook);

    /// <summary>
    /// Sets (or, with null, clears) the webhook that submissions without their own webhook_url carry. A receiver
    /// that starts calls this; updates it receives go to <see cref="ReportUpdate"/>.
    /// </summary>
    public void UseWebhook(WebhookTarget? target) => Volatile.Write(ref _webhook, target);

    /// <summary>
    /// Submits an operation form with a wire body (wire names, without the parent field). The parameters
    /// are checked against the rule table first; the parent's stage is the caller's to check
    /// (<see cref="RuleValidator.ValidateParent"/>). Returns the provider's task id.
    /// </summary>
    /// <param name="operation">The operation.</param>
    /// <param name="form">The form of the operation the body follows.</param>
    /// <param name="parentTaskId">The parent task, when the form has one.</param>
    /// <param name="body">The wire parameters.</param>
    /// <param name="intentId">The caller's write-ahead record of this submit: the webhook URL carries it (<c>?intent=</c>), so a late callback can attach the task to it.</param>
    /// <param name="cancellationToken">Cancels the submission.</param>
    public async Task<string> SubmitRawAsync(OperationRule operation, FormRule form, string? parentTaskId, JsonElement body, string? intentId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(form);
        using var activity = SdkTelemetry.Source.StartActivity("submit " + operation.Name, System.Diagnostics.ActivityKind.Client);
        activity?.SetTag(MjTelemetry.Tags.Operation, operation.Name);
        activity?.SetTag(MjTelemetry.Tags.ParentTaskId, parentTaskId);
        var outcome = "accepted";
        try
        {
            var taskId = await SubmitRawCoreAsync(operation, form, parentTaskId, body, intentId, cancellationToken).ConfigureAwait(false);
            _submitted.Add(taskId, operation.Name, _time.GetTimestamp());
            var credits = operation.CreditsOf(body);
            activity?.SetTag(MjTelemetry.Tags.TaskId, taskId);
            activity?.SetTag(MjTelemetry.Tags.Credits, credits);
            activity?.SetTag(MjTelemetry.Tags.Outcome, outcome);
            SdkTelemetry.Credits.Add(credits, new KeyValuePair<string, object?>(MjTelemetry.Tags.Operation, operation.Name));
            return taskId;
        }
        catch (Exception ex)
        {
            outcome = SdkTelemetry.SubmitOutcome(ex);
            SdkTelemetry.Failed(activity, ex, outcome);
            throw;
        }
        finally
        {
            SdkTelemetry.Submits.Add(1, new KeyValuePair<string, object?>(MjTelemetry.Tags.Operation, operation.Name), new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, outcome));
        }
    }

    private async Task<string> SubmitRawCoreAsync(OperationRule operation, FormRule form, string? parentTaskId, JsonElement body, string? intentId, CancellationToken cancellationToken)
    {
        var problems = RuleValidator.ValidateParams(form, Rules.Provider.CommonParams, body);
        if (form.Parent is not null && string.IsNullOrWhiteSpace(parentTaskId))
        {
            problems.Insert(0, new ValidationProblem(form.Parent.Field, $"'{form.Parent.Field}' is required: {operation.ToolName} acts on {Wording.A(form.Parent.Stages.Select(s => "finished " + s))} task."));
        }

        if (problems.Count > 0)
        {
            throw new MjValidationException(operation.ToolName, problems);
        }

        var payload = WriteJson(w =>
        {
            if (form.Parent is not null)
            {
                w.WriteString(form.Parent.Field, parentTaskId);
            }

            foreach (var property in body.EnumerateObject())
            {
                if (form.Parent is null || property.Name != form.Parent.Field)
                {
                    property.WriteTo(w);
                }
            }

            if (Webhook is { } webhook && !body.TryGetProperty("webhook_url", out _))
            {
                w.WriteString("webhook_url", intentId is null ? webhook.Url.ToString() : webhook.Url + (webhook.Url.Query.Length > 0 ? "&" : "?") + "intent=" + Uri.EscapeDataString(intentId));
                w.WriteString("webhook_secret", webhook.Secret);
            }
        });
        var reply = await SendAsync(HttpMethod.Post, operation.Path, payload, isSubmit: true, cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(reply);
        var root = document.RootElement;
        var taskId = root.ValueKind == JsonValueKind.Object && (root.TryGetProperty("task_id", out var id) || root.TryGetProperty("taskId", out id))
            ? (id.ValueKind == JsonValueKind.String ? id.GetString() : id.GetRawText())
            : null;
        if (string.IsNullOrEmpty(taskId))
        {
            throw new MjProtocolException($"The provider accepted {operation.Path} but returned no task_id.");
        }

        Log.Submitted(_logger, operation.Name, taskId, parentTaskId);
        return taskId;
    }

    /// <summary>
    /// Submits one form of an operation for generated typed methods: checks the parent's stage and the parameters
    /// against the rule table before any request, sends the request, and returns a submission that awaits to the
    /// pending task and waits to the typed result made by <paramref name="factory"/>.
    /// </summary>
    /// <typeparam name="TResult">The stage or result type the operation produces.</typeparam>
    /// <param name="operation">The operation's rule (from the generated <c>MidjourneySpec</c>).</param>
    /// <param name="formIndex">The index of the form in <see cref="OperationRule.Forms"/>.</param>
    /// <param name="parent">The parent task, when the form has one.</param>
    /// <param name="writeProperties">Writes the request's wire properties (without the parent field).</param>
    /// <param name="factory">Turns the finished /fetch reply into <typeparamref name="TResult"/>.</param>
    /// <param name="cancellationToken">Cancels the submission.</param>
    protected Submission<TResult> Submit<TResult>(OperationRule operation, int formIndex, MjTask? parent, Action<Utf8JsonWriter> writeProperties, Func<FetchResponse, TResult> factory, CancellationToken cancellationToken)
        where TResult : class
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(writeProperties);
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentOutOfRangeException.ThrowIfNegative(formIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(formIndex, operation.Forms.Count);
        return new(SubmitTypedAsync(operation, formIndex, parent, writeProperties, factory, cancellationToken));
    }

    private async Task<PendingTask<TResult>> SubmitTypedAsync<TResult>(OperationRule operation, int formIndex, MjTask? parent, Action<Utf8JsonWriter> writeProperties, Func<FetchResponse, TResult> factory, CancellationToken cancellationToken)
        where TResult : class
    {
        var form = operation.Forms[formIndex];
        if (parent is not null && RuleValidator.ValidateParent(operation, form, parent.TaskId, parent.Stage, parent.Operation, TaskState.Finished) is { } problem)
        {
            throw new MjValidationException(operation.ToolName, [problem]);
        }

        var body = WriteJson(writeProperties);
        using var document = JsonDocument.Parse(body);
        var taskId = await SubmitRawAsync(operation, form, parent?.TaskId, document.RootElement, null, cancellationToken).ConfigureAwait(false);
        return new PendingTask<TResult>(this, taskId, operation, parent?.TaskId, factory);
    }

    internal async Task<FetchResponse> WaitForFinishedAsync(string taskId, IProgress<TaskProgress>? progress, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(taskId);
        using var activity = SdkTelemetry.Source.StartActivity("wait");
        activity?.SetTag(MjTelemetry.Tags.TaskId, taskId);
        var counts = new WaitCounts();
        var started = _time.GetTimestamp();
        var outcome = "finished";
        try
        {
            return await WaitForFinishedCoreAsync(taskId, progress, timeout, counts, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            outcome = ex switch
            {
                MjTaskFailedException => "failed",
                MjWaitTimeoutException => "timeout",
                OperationCanceledException => "cancelled",
                _ => "error",
            };
            SdkTelemetry.Failed(activity, ex, outcome);
            throw;
        }
        finally
        {
            activity?.SetTag(MjTelemetry.Tags.Outcome, outcome);
            activity?.SetTag(MjTelemetry.Tags.Polls, counts.Polls);
            activity?.SetTag(MjTelemetry.Tags.Pushed, counts.Pushed);
            SdkTelemetry.WaitDuration.Record(_time.GetElapsedTime(started).TotalSeconds, new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, outcome));
        }
    }

    /// <summary>What a wait used, for its span.</summary>
    private sealed class WaitCounts
    {
        public int Polls { get; set; }

        public int Pushed { get; set; }
    }

    private async Task<FetchResponse> WaitForFinishedCoreAsync(string taskId, IProgress<TaskProgress>? progress, TimeSpan? timeout, WaitCounts counts, CancellationToken cancellationToken)
    {
        var limit = timeout ?? _options.DefaultWaitTimeout;
        var started = _time.GetTimestamp();
        var failures = 0;
        TaskProgress? last = null;

        // A task this client submitted is planned on its age, with what earlier jobs of its operation took.
        var submission = _submitted.Find(taskId);
        var origin = submission?.Timestamp ?? started;
        var prior = submission is { } s ? _durations.PriorOf(s.Operation, s.InFlight) : null;
        var planner = new PollPlanner(_options, quiet: Webhook is not null, _time.GetElapsedTime(origin, started), prior);
        using var waiter = _signals.Register(taskId);
        while (true)
        {
            var elapsed = _time.GetElapsedTime(started);
            var remaining = limit - elapsed;
            if (remaining <= TimeSpan.Zero)
            {
                throw new MjWaitTimeoutException(taskId, last, elapsed);
            }

            var due = planner.NextPollAt - _time.GetElapsedTime(origin);
            var pushed = await waiter.WaitAsync(due < remaining ? due : remaining, _time, cancellationToken).ConfigureAwait(false);
            FetchResponse response;
            if (pushed is not null)
            {
                response = pushed;
                counts.Pushed++;
                var pushedState = Rules.StateOf(response.Status);
                planner.Pushed(_time.GetElapsedTime(origin), pushedState, response.Percentage);
            }
            else
            {
                counts.Polls++;
                try
                {
                    response = await FetchAsync(taskId, cancellationToken).ConfigureAwait(false);
                    SdkTelemetry.Polls.Add(1, new KeyValuePair<string, object?>(MjTelemetry.Tags.Outcome, SdkTelemetry.Name(Rules.StateOf(response.Status))));
                    failures = 0;
                    planner.Polled(_time.GetElapsedTime(origin), Rules.StateOf(response.Status), response.Percentage);
                }
                catch (MjException ex) when (SdkTelemetry.PollFailed() && IsTransient(ex) && ++failures < _options.MaxConsecutiveFetchFailures)
                {
                    Log.FetchRetry(_logger, taskId, failures, ex.Message);
                    planner.PollFailed(_time.GetElapsedTime(origin));
                    continue;
                }
            }

            var state = Rules.StateOf(response.Status);
            var current = new TaskProgress(taskId, state, response.Status, state == TaskState.Finished ? 100 : response.Percentage);
            if (current != last)
            {
                progress?.Report(current);
                last = current;
            }

            if (state == TaskState.Finished)
            {
                // Learned once per task (two waits on one task: the first to see it end).
                if (submission is { } made && _submitted.Remove(taskId, out var inFlight) && planner.Measure() is { } measured &&
                    _durations.Add(made.Operation, measured with { InFlight = inFlight }))
                {
                    try
                    {
                        JobDurationLearned?.Invoke(this, new JobDuration(made.Operation, measured.Queue, measured.Run, inFlight));
                    }
#pragma warning disable CA1031 // A subscriber's failure (e.g. saving the memory) must not lose the finished task this wait returns.
                    catch (Exception ex)
#pragma warning restore CA1031
                    {
                        System.Diagnostics.Activity.Current?.AddException(ex);
                    }
                }

                return response;
            }

            if (state == TaskState.Failed)
            {
                _submitted.Remove(taskId);
                throw new MjTaskFailedException(taskId, response.Error ?? response.Message);
            }
        }
    }

    private static bool IsTransient(MjException ex) =>
        ex is MjTransportException or MjRateLimitedException ||
        (ex is MjProviderException provider && (int)provider.StatusCode >= 500);

    private static byte[] WriteJson(Action<Utf8JsonWriter> writeProperties)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writeProperties(writer);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private Task<byte[]> SendAsync(HttpMethod method, string path, byte[]? body, bool isSubmit, CancellationToken cancellationToken)
    {
        ByteArrayContent? content = null;
        if (body is not null)
        {
            content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        return SendContentAsync(method, path, content, isSubmit, cancellationToken);
    }

    // Takes ownership of content (the request disposes it).
    private async Task<byte[]> SendContentAsync(HttpMethod method, string path, HttpContent? content, bool isSubmit, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(_options.ApiKey))
        {
            content?.Dispose();
            throw new MjValidationException(path, [new ValidationProblem("api_key", "No API key is configured. Set MJMCP_API_KEY (or MidjourneyOptions.ApiKey), or use the embedded sandbox.")]);
        }

        using var request = new HttpRequestMessage(method, new Uri(_baseUrl, path.TrimStart('/')));
        request.Content = content;
        request.Options.Set(ProviderResilience.IsReadOption, !isSubmit);
        var scheme = _options.AuthScheme ?? Rules.Provider.AuthScheme;
        request.Headers.TryAddWithoutValidation(Rules.Provider.AuthHeader, string.IsNullOrEmpty(scheme) ? _options.ApiKey : scheme + " " + _options.ApiKey);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            // Nothing left this machine when the connection could not be made (refused, no route, name not resolved):
            // the provider cannot have created a task. Anything else failed after the request may have been sent.
            var notSent = ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused }
                || ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError;
            throw new MjTransportException(
                isSubmit && !notSent
                    ? $"The request to {path} failed after it was sent ({ex.HttpRequestError}); the provider may have created a task. It was not resubmitted automatically: check your tasks before retrying."
                    : $"Could not reach the provider for {path} ({ex.HttpRequestError}); nothing was sent{(isSubmit ? ", so retrying is safe" : string.Empty)}.",
                mayHaveCreatedTask: isSubmit && !notSent,
                ex);
        }
        catch (BrokenCircuitException ex)
        {
            // The circuit breaker refused the call before sending it.
            throw new MjTransportException(
                $"The provider failed repeatedly, so {path} was not sent (circuit open for a few seconds); nothing was created. Retry shortly.",
                mayHaveCreatedTask: false,
                ex);
        }
        catch (Exception ex) when (ProviderResilience.IsResilienceFailure(ex))
        {
            throw new MjTransportException(
                isSubmit ? $"The request to {path} did not complete ({ex.GetType().Name}); the provider may have created a task. It was not resubmitted automatically." : $"The provider did not answer {path} ({ex.GetType().Name}).",
                mayHaveCreatedTask: isSubmit,
                ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new MjTransportException(
                isSubmit ? $"The request to {path} timed out after it was sent; the provider may have created a task. It was not resubmitted automatically." : $"The request to {path} timed out.",
                mayHaveCreatedTask: isSubmit,
                ex);
        }

        using (response)
        {
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return bytes;
            }

            var message = ProviderMessage(bytes);
            Log.ProviderError(_logger, path, (int)response.StatusCode, message);
            throw response.StatusCode switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new MjAuthenticationException(response.StatusCode, path, message),
                HttpStatusCode.TooManyRequests => new MjRateLimitedException(path, message, RetryAfter(response)),
                // A 500/502/504 to a submit does not say whether the task was created before the failure.
                HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout when isSubmit => new MjProviderException(
                    response.StatusCode,
                    path,
                    message,
                    $"The provider failed on {path} ({(int)response.StatusCode}): {message ?? "no message"}. It may have created the task before failing; it was not resubmitted automatically: check your tasks before retrying.")
                {
                    MayHaveCreatedTask = true,
                },
                HttpStatusCode.ServiceUnavailable when isSubmit => new MjProviderException(response.StatusCode, path, message, $"The provider is unavailable for {path} (503): {message ?? "no message"}. Nothing was created, so retrying later is safe."),
                _ => new MjProviderException(response.StatusCode, path, message, $"The provider refused {path} ({(int)response.StatusCode}): {message ?? "no message"}."),
            };
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter is { } header
            ? header.Delta ?? (header.Date is { } date ? date - _time.GetUtcNow() : null)
            : null;

    /// <summary>The provider's error text: "message", else errors[0].msg, else "error".</summary>
    private static string? ProviderMessage(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            if (root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String)
            {
                return message.GetString();
            }

            if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array)
            {
                var texts = errors.EnumerateArray()
                    .Select(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("msg", out var msg) ? msg.GetString() : null)
                    .Where(t => !string.IsNullOrEmpty(t));
                var joined = string.Join("; ", texts);
                return joined.Length > 0 ? joined : null;
            }

            return root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.String ? error.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    // LoggerMessage.Define rather than the logging source generator: the runtime compiles on its own
    // (the generator tests compile it together with freshly generated code).
    private static class Log
    {
        private static readonly Action<ILogger, string, string, string?, Exception?> SubmittedMessage =
            LoggerMessage.Define<string, string, string?>(LogLevel.Debug, new EventId(1, "Submitted"), "Submitted {Operation} as task {TaskId} (parent {ParentTaskId})");

        private static readonly Action<ILogger, string, int, string?, Exception?> ProviderErrorMessage =
            LoggerMessage.Define<string, int, string?>(LogLevel.Warning, new EventId(2, "ProviderError"), "Provider answered {Path} with {Status}: {Message}");

        private static readonly Action<ILogger, string, int, string, Exception?> FetchRetryMessage =
            LoggerMessage.Define<string, int, string>(LogLevel.Debug, new EventId(3, "FetchRetry"), "Fetching task {TaskId} failed ({Failures} in a row), will retry: {Message}");

        public static void Submitted(ILogger logger, string operation, string taskId, string? parentTaskId) => SubmittedMessage(logger, operation, taskId, parentTaskId, null);

        public static void ProviderError(ILogger logger, string path, int status, string? message) => ProviderErrorMessage(logger, path, status, message, null);

        public static void FetchRetry(ILogger logger, string taskId, int failures, string message) => FetchRetryMessage(logger, taskId, failures, message, null);
    }
}

/// <summary>The account's credits and plan, from GET /account.</summary>
public sealed record AccountInfo(string? Email, long? Credits, long? TotalImages, string? Plan)
{
    internal static AccountInfo Parse(JsonElement root)
    {
        string? Text(string name) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var v)
            ? (v.ValueKind == JsonValueKind.String ? v.GetString() : v.ValueKind == JsonValueKind.Number ? v.GetRawText() : null)
            : null;
        long? Number(string name) => long.TryParse(Text(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;
        return new AccountInfo(Text("email"), Number("credits"), Number("total_images"), Text("plan"));
    }
}
