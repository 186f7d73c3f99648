using System.Globalization;
using Spectre.Console;

namespace MjMcp.Cli;

/// <summary>
/// Where <c>mjmcp demo</c> shows its progress: live Spectre.Console bars when stderr is a terminal, else plain lines
/// (one per step start, per change of percentage or stage, and per step end), with no escape codes, for logs and pipes.
/// </summary>
internal sealed class DemoView
{
    private readonly IAnsiConsole? _console;
    private readonly TextWriter _plain;
    private readonly Lock _gate = new();

    private DemoView(IAnsiConsole? console, TextWriter plain)
    {
        _console = console;
        _plain = plain;
    }

    /// <summary>Live bars on a terminal stderr; plain lines when stderr is redirected or TERM=dumb.</summary>
    public static DemoView ForStandardError()
    {
        if (Console.IsErrorRedirected || string.Equals(Environment.GetEnvironmentVariable("TERM"), "dumb", StringComparison.Ordinal))
        {
            return new DemoView(null, Console.Error);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return new DemoView(console, Console.Error);
    }

    /// <summary>A line of text (never parsed as markup).</summary>
    public void Line(string text)
    {
        lock (_gate)
        {
            if (_console is { } console)
            {
                console.WriteLine(text);
            }
            else
            {
                _plain.WriteLine(text);
            }
        }
    }

    /// <summary>Runs one tool call, showing the progress it reports (0-100 and a stage message) until it ends.</summary>
    public async Task<T> StepAsync<T>(string tool, Func<Action<double, string>, Task<T>> run)
    {
        if (_console is not { } console)
        {
            var last = (-1, string.Empty);
            Line($"  {tool,-12} started");
            var plainResult = await run((value, message) =>
            {
                var now = ((int)value, message);
                lock (_gate)
                {
                    if (now == last)
                    {
                        return;
                    }

                    last = now;
                }

                Line($"  {tool,-12} {now.Item1.ToString(CultureInfo.InvariantCulture),3}% {message}".TrimEnd());
            }).ConfigureAwait(false);
            Line($"  {tool,-12} done");
            return plainResult;
        }

        T result = default!;
        await console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask(Markup.Escape(tool), maxValue: 100);
                result = await run((value, message) =>
                {
                    task.Value = value;
                    task.Description = Markup.Escape(message.Length == 0 ? tool : $"{tool} ({message})");
                }).ConfigureAwait(false);
                task.Value = 100;
                task.Description = Markup.Escape($"{tool} done");
                task.StopTask();
            }).ConfigureAwait(false);
        return result;
    }
}
