using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text;
using MjMcp.Sandbox;

namespace MjMcp.Sdk.Tests;

/// <summary>
/// The SDK's traces and metrics (ActivitySource and Meter "MjMcp.Sdk") for a real workflow against the sandbox, seen
/// through a plain ActivityListener / MeterListener, as OpenTelemetry would see them. Other tests run at the same time
/// in this process, so spans are picked by this test's task ids and metrics are checked for what this test adds.
/// </summary>
public sealed class TelemetryTests : IDisposable
{
    private const string ApiKey = "sdk-telemetry-key-7d41c0";
    private readonly ConcurrentQueue<Activity> _spans = new();
    private readonly ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)> _measurements = new();
    private readonly ActivityListener _activities;
    private readonly MeterListener _meters;

    public TelemetryTests()
    {
        _activities = new ActivityListener
        {
            ShouldListenTo = source => source.Name == MjTelemetry.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_activities);

        _meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == MjTelemetry.MeterName)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _meters.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _meters.Start();
    }

    [Fact]
    public async Task SubmitPollAndWaitSpansCarryTheTaskIdAndNeverTheKey()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = ApiKey, CandidateSize = 64 });
        using var http = new HttpClient();
        var mj = new MidjourneyClient(http, new MidjourneyOptions
        {
            BaseUrl = sandbox.BaseUrl,
            ApiKey = ApiKey,
            PollInitialDelay = TimeSpan.FromMilliseconds(50),
            PollMinInterval = TimeSpan.FromMilliseconds(50),
        });

        var grid = await mj.ImagineAsync("a lighthouse at dusk").WaitAsync();
        var pick = await mj.Upscale1xAsync(grid, 2).WaitAsync();

        foreach (var (operation, taskId) in new[] { ("imagine", grid.TaskId), ("upscale-1x", pick.TaskId) })
        {
            var submit = Assert.Single(Spans(taskId), s => s.OperationName == "submit " + operation);
            Assert.Equal(ActivityKind.Client, submit.Kind);
            Assert.Equal(operation, submit.GetTagItem(MjTelemetry.Tags.Operation));
            Assert.Equal("accepted", submit.GetTagItem(MjTelemetry.Tags.Outcome));

            // The wait polled (no webhook here) and each poll is a fetch span under the wait, with the task's status.
            var wait = Assert.Single(Spans(taskId), s => s.OperationName == "wait");
            Assert.Equal("finished", wait.GetTagItem(MjTelemetry.Tags.Outcome));
            var polls = Assert.IsType<int>(wait.GetTagItem(MjTelemetry.Tags.Polls));
            Assert.True(polls >= 1, $"the wait for {taskId} made no poll");
            var fetches = Spans(taskId).Where(s => s.OperationName == "fetch" && s.ParentSpanId == wait.SpanId).ToList();
            Assert.Equal(polls, fetches.Count);
            Assert.Equal("finished", fetches[^1].GetTagItem(MjTelemetry.Tags.State));
            Assert.NotNull(fetches[^1].GetTagItem(MjTelemetry.Tags.Status));
        }

        Assert.Equal(grid.TaskId, Spans(pick.TaskId).Single(s => s.OperationName == "submit upscale-1x").GetTagItem(MjTelemetry.Tags.ParentTaskId));

        // Metrics: the accepted submits with their credits from the rule table, the polls and the wait durations.
        Assert.Contains(Measured(MjTelemetry.SubmitsMetric), m => Is(m.Tags, "imagine", "accepted"));
        Assert.Contains(Measured(MjTelemetry.SubmitsMetric), m => Is(m.Tags, "upscale-1x", "accepted"));
        Assert.Contains(Measured(MjTelemetry.CreditsMetric), m => m.Value == MidjourneySpec.Imagine.Credits && Equals(m.Tags[MjTelemetry.Tags.Operation], "imagine"));
        Assert.Contains(Measured(MjTelemetry.CreditsMetric), m => m.Value == MidjourneySpec.Upscale1x.Credits && Equals(m.Tags[MjTelemetry.Tags.Operation], "upscale-1x"));
        Assert.Contains(Measured(MjTelemetry.PollsMetric), m => Equals(m.Tags[MjTelemetry.Tags.Outcome], "finished"));
        Assert.Contains(Measured(MjTelemetry.WaitDurationMetric), m => Equals(m.Tags[MjTelemetry.Tags.Outcome], "finished") && m.Value > 0);

        AssertNoSecret(ApiKey);
    }

    [Fact]
    public async Task ARefusedSubmitIsMarkedWithoutTheKeyItWasSentWith()
    {
        const string WrongKey = "sdk-telemetry-wrong-key-93be";
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = ApiKey });
        var mj = new MidjourneyClient(new HttpClient(), new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = WrongKey });

        // A parent activity of this test only: the submit span is its child (a refused submit has no task id to find it by).
        using var parent = new Activity("refused-submit-test").Start();
        var marker = Guid.NewGuid().ToString("N");
        await Assert.ThrowsAsync<MjAuthenticationException>(() => mj.ImagineAsync("refused " + marker).AsTask());

        var submit = Assert.Single(_spans, s => s.TraceId == parent.TraceId && s.OperationName == "submit imagine");
        Assert.Equal("refused", submit.GetTagItem(MjTelemetry.Tags.Outcome));
        Assert.Null(submit.GetTagItem(MjTelemetry.Tags.TaskId));
        Assert.Equal(ActivityStatusCode.Error, submit.Status);
        Assert.Equal(nameof(MjAuthenticationException), submit.GetTagItem(MjTelemetry.Tags.ErrorType));
        Assert.Equal(nameof(MjAuthenticationException), submit.StatusDescription);
        Assert.Contains(Measured(MjTelemetry.SubmitsMetric), m => Is(m.Tags, "imagine", "refused"));
        AssertNoSecret(WrongKey);
        AssertNoSecret(marker); // nor the request body (the prompt)
    }

    [Fact]
    public async Task AWebhookUpdateWakesTheWaitAndIsASpan()
    {
        await using var sandbox = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = ApiKey, Timing = new SandboxTiming(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30)) });
        var mj = new MidjourneyClient(new HttpClient(), new MidjourneyOptions { BaseUrl = sandbox.BaseUrl, ApiKey = ApiKey, PollInitialDelay = TimeSpan.FromMinutes(5), PollMaxInterval = TimeSpan.FromMinutes(5) });
        var pending = await mj.ImagineAsync("a lighthouse at dusk");

        // A finished update for the task arrives "by webhook" while the wait sleeps before its first poll.
        var wait = mj.WaitAsync(pending.TaskId, timeout: TimeSpan.FromMinutes(2));
        var update = FetchResponse.Parse(Encoding.UTF8.GetBytes($$"""{"task_id":"{{pending.TaskId}}","task_type":"imagine","status":"finished","percentage":100,"image_urls":["http://x/1.png","http://x/2.png","http://x/3.png","http://x/4.png"]}"""));
        while (!wait.IsCompleted)
        {
            mj.ReportUpdate(update);
            await Task.WhenAny(wait, Task.Delay(50));
        }

        await wait;
        var applied = Spans(pending.TaskId).Where(s => s.OperationName == "webhook update").ToList();
        Assert.NotEmpty(applied);
        Assert.Equal("finished", applied[0].GetTagItem(MjTelemetry.Tags.Status));
        var waited = Assert.Single(Spans(pending.TaskId), s => s.OperationName == "wait");
        Assert.Equal(0, waited.GetTagItem(MjTelemetry.Tags.Polls));
        Assert.Equal(1, waited.GetTagItem(MjTelemetry.Tags.Pushed));
        Assert.Contains(Measured(MjTelemetry.WebhookUpdatesMetric), m => Equals(m.Tags[MjTelemetry.Tags.Status], "finished"));
    }

    public void Dispose()
    {
        _activities.Dispose();
        _meters.Dispose();
    }

    private void Record<T>(Instrument instrument, T value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct
    {
        var copy = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var tag in tags)
        {
            copy[tag.Key] = tag.Value;
        }

        _measurements.Enqueue((instrument.Name, Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture), copy));
    }

    private List<Activity> Spans(string taskId) => _spans.Where(s => Equals(s.GetTagItem(MjTelemetry.Tags.TaskId), taskId)).ToList();

    private List<(string Instrument, double Value, Dictionary<string, object?> Tags)> Measured(string name) => _measurements.Where(m => m.Instrument == name).ToList();

    private static bool Is(Dictionary<string, object?> tags, string operation, string outcome) =>
        Equals(tags.GetValueOrDefault(MjTelemetry.Tags.Operation), operation) && Equals(tags.GetValueOrDefault(MjTelemetry.Tags.Outcome), outcome);

    /// <summary>No span name, status, tag or event, and no metric tag, holds <paramref name="secret"/>.</summary>
    private void AssertNoSecret(string secret)
    {
        foreach (var span in _spans)
        {
            var texts = new[] { span.OperationName, span.DisplayName, span.StatusDescription ?? string.Empty }
                .Concat(span.TagObjects.Select(t => t.Key + "=" + t.Value))
                .Concat(span.Events.SelectMany(e => e.Tags.Select(t => e.Name + ":" + t.Key + "=" + t.Value)));
            Assert.DoesNotContain(texts, t => t.Contains(secret, StringComparison.Ordinal));
        }

        Assert.DoesNotContain(_measurements, m => m.Tags.Any(t => (t.Key + "=" + t.Value).Contains(secret, StringComparison.Ordinal)));
    }
}
