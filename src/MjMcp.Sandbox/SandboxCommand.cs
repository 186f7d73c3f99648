using System.Globalization;
using System.Runtime.InteropServices;
using MjMcp.Rules;

namespace MjMcp.Sandbox;

/// <summary>The standalone sandbox: <c>dotnet run --project src/MjMcp.Sandbox -- --port 5077</c> or <c>mjmcp sandbox</c>.</summary>
public static class SandboxCommand
{
    private const string Usage = "Use --port N, --data-dir D, --api-key K, --realistic, --spec FILE.";

    /// <summary>
    /// Reads a spec file (YAML) into its rule table, for <c>--spec FILE</c>; the sandbox itself has no YAML reader.
    /// Null: <c>--spec</c> is refused with exit code 2. Exceptions it throws are reported as a one-line error (exit code 2).
    /// </summary>
    public static Func<string, SpecRules>? SpecLoader { get; set; }

    /// <summary>Runs until Ctrl+C (SIGINT) or SIGTERM. Options: --port N (default 5077), --data-dir D, --api-key K, --realistic, --spec FILE.</summary>
    public static Task<int> RunAsync(string[] args, CancellationToken cancellationToken) => RunAsync(args, Console.Out, Console.Error, cancellationToken);

    /// <summary>
    /// Runs until SIGINT (Ctrl+C), SIGTERM or <paramref name="cancellationToken"/>, writing the listening line to <paramref name="output"/> and
    /// notes and errors to <paramref name="error"/>. Returns 0, or 2 for bad arguments or a spec that cannot be loaded.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        var options = new SandboxOptions { Port = 5077 };
        string? specFile = null;
        for (var i = 0; i < args.Length; i++)
        {
            var option = args[i];
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            string? value = null;
            if (option is "--port" or "--data-dir" or "--api-key" or "--spec" && (value = Next()) is null)
            {
                await error.WriteLineAsync($"{option} needs a value. {Usage}").ConfigureAwait(false);
                return 2;
            }

            switch (option)
            {
                case "--port":
                    if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
                    {
                        await error.WriteLineAsync($"--port needs a port number from 0 to 65535; got '{value}'.").ConfigureAwait(false);
                        return 2;
                    }

                    options.Port = port;
                    break;
                case "--data-dir":
                    options.DataDirectory = value;
                    break;
                case "--api-key":
                    options.ApiKey = value;
                    break;
                case "--spec":
                    specFile = value;
                    break;
                case "--realistic":
                    options.Timing = SandboxTiming.Realistic;
                    break;
                default:
                    await error.WriteLineAsync($"Unknown option {option}. {Usage}").ConfigureAwait(false);
                    return 2;
            }
        }

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
