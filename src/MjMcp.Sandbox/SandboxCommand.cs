using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using MjMcp.Rules;

namespace MjMcp.Sandbox;

/// <summary>
/// The standalone sandbox: <c>dotnet run --project src/MjMcp.Sandbox -- --port 5077</c> or <c>mjmcp sandbox</c>. Options,
/// help (--help) and errors come from System.CommandLine; bad input is a one-line error on stderr and exit code 2.
/// </summary>
public static class SandboxCommand
{
    /// <summary>What the command does, for its help.</summary>
    public const string Description = "Run the sandbox provider standalone on 127.0.0.1 (curl-able): the provider's wire protocol, real rendered images, no credits. Ctrl+C or SIGTERM stops it.";

    /// <summary>
    /// Reads a spec file (YAML) into its rule table, for <c>--spec FILE</c>; the sandbox itself has no YAML reader.
    /// Null: <c>--spec</c> is refused with exit code 2. Exceptions it throws are reported as a one-line error (exit code 2).
    /// </summary>
    public static Func<string, SpecRules>? SpecLoader { get; set; }

    /// <summary>The <c>sandbox</c> subcommand (for <c>mjmcp sandbox</c>), with every option and its help.</summary>
    public static Command Create() => Configure(new Command("sandbox", Description));

    /// <summary>Runs until Ctrl+C (SIGINT) or SIGTERM. See <c>--help</c> for the options.</summary>
    public static Task<int> RunAsync(string[] args, CancellationToken cancellationToken) => RunAsync(args, Console.Out, Console.Error, cancellationToken);

    /// <summary>
    /// Runs until SIGINT (Ctrl+C), SIGTERM or <paramref name="cancellationToken"/>, writing the listening line (or the help) to
    /// <paramref name="output"/> and notes and errors to <paramref name="error"/>. Returns 0, or 2 for bad arguments or a spec
    /// that cannot be loaded.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var parse = Configure(new RootCommand(Description)).Parse(args);
        if (await CommandLineErrors.ReportAsync(parse, "sandbox", error).ConfigureAwait(false) is { } code)
        {
            return code;
        }

        // Signals are handled below (a clean stop with exit code 0), not by System.CommandLine.
        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, ProcessTerminationTimeout = null }, cancellationToken).ConfigureAwait(false);
    }

    private static T Configure<T>(T command)
        where T : Command
    {
        var port = CommandLineErrors.Number("--port", "The port to listen on, on 127.0.0.1 (0: any free port).", 0, 65535, "a port number", 5077);
        var dataDir = CommandLineErrors.Text("--data-dir", "Where tasks and images are stored (default: mjmcp-sandbox in the temp folder).", "DIR", "/tmp/mjmcp-sandbox");
        var apiKey = CommandLineErrors.Text("--api-key", "Accept only this key in Authorization (a test key of your choosing; default: any non-empty key).", "KEY", "test-key");
        var spec = CommandLineErrors.Text("--spec", "Also serve the operations this spec (YAML) adds, from their forms, parent rules and results.", "FILE", "my.yaml");
        var realistic = new Option<bool>("--realistic") { Description = "Tasks queue about 2 s and run about 25 s, like the provider (default: finished at once)." };
        var strict = new Option<bool>("--strict") { Description = "Error bodies exactly as the provider documents them: 400 and 429 as {\"errors\":[{\"msg\":…}]} with no message, 401 and 500 as {}." };
        var extended = new Option<bool>("--extended-statuses") { Description = "Tasks also pass through the provider's other statuses (staged, starting, retrying), chosen per task by --status-seed; needs --realistic to show." };
        var seed = CommandLineErrors.Number("--status-seed", "The seed that decides each task's extended statuses (default 1), so a run repeats.", int.MinValue, int.MaxValue, "a whole number", 7);
        command.Options.Add(port);
        command.Options.Add(dataDir);
        command.Options.Add(apiKey);
        command.Options.Add(spec);
        command.Options.Add(realistic);
        command.Options.Add(strict);
        command.Options.Add(extended);
        command.Options.Add(seed);
        command.SetAction((parse, cancellationToken) =>
        {
            var options = new SandboxOptions
            {
                Port = parse.GetValue(port) ?? 5077,
                DataDirectory = parse.GetValue(dataDir),
                ApiKey = parse.GetValue(apiKey),
                Strict = parse.GetValue(strict),
                ExtendedStatuses = parse.GetValue(extended),
            };
            if (parse.GetValue(realistic))
            {
                options.Timing = SandboxTiming.Realistic;
            }

            if (parse.GetValue(seed) is { } statusSeed)
            {
                options.StatusSeed = statusSeed;
            }

            return RunAsync(options, parse.GetValue(spec), parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, cancellationToken);
        });
        return command;
    }

    private static async Task<int> RunAsync(SandboxOptions options, string? specFile, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (specFile is not null)
        {
            if (LoadSpec(specFile, out var problem) is { } spec)
            {
                options.Spec = spec;
            }
            else
            {
                await error.WriteLineAsync(problem).ConfigureAwait(false);
                return 2;
            }
        }

        options.DataDirectory ??= Path.Combine(Path.GetTempPath(), "mjmcp-sandbox");

        // Registered before it listens: SIGINT (Ctrl+C) and SIGTERM (kill, docker stop, systemd) stop it cleanly.
        // Requests in flight are answered or cancelled by the server's bounded shutdown, and the exit code is 0.
        var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = cancellationToken.Register(() => stopped.TrySetResult());
        var signals = new List<PosixSignalRegistration>();
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            try
            {
                signals.Add(PosixSignalRegistration.Create(signal, context =>
                {
                    context.Cancel = true;
                    stopped.TrySetResult();
                }));
            }
            catch (PlatformNotSupportedException)
            {
                // A platform without this signal: Ctrl+C still arrives as SIGINT where there is one.
            }
        }

        try
        {
            return await ServeAsync(options, specFile, output, error, stopped.Task, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            // Most often the port is taken, or the data directory cannot be written.
            await error.WriteLineAsync($"sandbox: could not start on port {options.Port} with data in {options.DataDirectory}: {ex.Message} Pick another --port (0: any free one) or --data-dir.").ConfigureAwait(false);
            return 2;
        }
        catch (UnauthorizedAccessException ex)
        {
            await error.WriteLineAsync($"sandbox: {ex.Message} Pick a writable --data-dir.").ConfigureAwait(false);
            return 2;
        }
        finally
        {
            foreach (var signal in signals)
            {
                signal.Dispose();
            }
        }
    }

    private static async Task<int> ServeAsync(SandboxOptions options, string? specFile, TextWriter output, TextWriter error, Task stopped, CancellationToken cancellationToken)
    {
        await using var server = await SandboxServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        await output.WriteLineAsync($"MjMcp sandbox listening on {server.BaseUrl}").ConfigureAwait(false);
        await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        await error.WriteLineAsync($"Data: {options.DataDirectory}. Any non-empty Authorization key is accepted{(options.ApiKey is null ? string.Empty : " only if it matches --api-key")}. Ctrl+C stops.").ConfigureAwait(false);
        if (server.SpecServedPaths.Count > 0)
        {
            await error.WriteLineAsync($"Also served from {specFile}: {string.Join(", ", server.SpecServedPaths)}.").ConfigureAwait(false);
        }

        await stopped.ConfigureAwait(false);
        await error.WriteLineAsync("Stopping.").ConfigureAwait(false);
        return 0;
    }

    private static SpecRules? LoadSpec(string file, out string problem)
    {
        problem = string.Empty;
        if (SpecLoader is not { } loader)
        {
            problem = $"--spec needs a spec loader, and this build of the sandbox has none (SandboxCommand.SpecLoader is not set): it cannot read {file}. Run the sandbox through a host that supplies one, or drop --spec.";
            return null;
        }

        if (!File.Exists(file))
        {
            problem = $"--spec: the file {file} does not exist.";
            return null;
        }

        try
        {
            return loader(file);
        }
#pragma warning disable CA1031 // Any loader failure is a one-line error and exit code 2, never a stack trace.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            problem = $"--spec: {file} could not be loaded: {ex.Message}";
            return null;
        }
    }
}

/// <summary>
/// Shared command-line pieces for <c>mjmcp</c> and the standalone sandbox: options whose bad or missing values are errors
/// that name the fix, and the one-line error report (stderr, exit code 2, no stack trace).
/// </summary>
public static class CommandLineErrors
{
    /// <summary>
    /// Null when <paramref name="parse"/> has no errors; else writes each error as one line naming the fix (and where the
    /// help is) to <paramref name="error"/> and returns 2.
    /// </summary>
    public static async Task<int?> ReportAsync(ParseResult parse, string program, TextWriter error)
    {
        ArgumentNullException.ThrowIfNull(parse);
        ArgumentNullException.ThrowIfNull(error);
        if (parse.Errors.Count == 0)
        {
            return null;
        }

        var help = string.Join(' ', parse.CommandResult.Command is RootCommand ? [program] : new[] { program, parse.CommandResult.Command.Name }.Distinct(StringComparer.Ordinal));
        foreach (var problem in parse.Errors.Select(e => e.Message).Distinct(StringComparer.Ordinal))
        {
            var line = problem.Replace('\n', ' ').Trim();
            await error.WriteLineAsync($"{program}: {line}{(line.EndsWith('.') ? string.Empty : ".")} ({help} --help lists every option.)").ConfigureAwait(false);
        }

        return 2;
    }

    /// <summary>An option that takes one text value; a missing value is an error with an example.</summary>
    public static Option<string?> Text(string name, string description, string valueName, string example) => new(name)
    {
        Description = description,
        HelpName = valueName,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0 || result.Tokens[0].Value.Length == 0)
            {
                result.AddError($"{name} needs a value, e.g. {name} {example}");
                return null;
            }

            return result.Tokens[0].Value;
        },
    };

    /// <summary>An option that takes a whole number from <paramref name="min"/> to <paramref name="max"/>; anything else is an error that says so.</summary>
    public static Option<int?> Number(string name, string description, int min, int max, string what, int example) => new(name)
    {
        Description = description,
        HelpName = "N",
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            var range = min == int.MinValue ? string.Empty : $" from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}";
            if (result.Tokens.Count == 0)
            {
                result.AddError($"{name} needs {what}{range}, e.g. {name} {example.ToString(CultureInfo.InvariantCulture)}");
                return null;
            }

            var text = result.Tokens[0].Value;
            if (int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max)
            {
                return value;
            }

            result.AddError($"{name} needs {what}{range}; got '{text}'");
            return null;
        },
    };
}
