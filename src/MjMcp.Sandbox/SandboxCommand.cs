using System.Globalization;

namespace MjMcp.Sandbox;

/// <summary>The standalone sandbox: <c>dotnet run --project src/MjMcp.Sandbox -- --port 5077</c> or <c>mjmcp sandbox</c>.</summary>
public static class SandboxCommand
{
    /// <summary>Runs until Ctrl+C. Options: --port N (default 5077), --data-dir D, --api-key K, --realistic.</summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new SandboxOptions { Port = 5077 };
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
            switch (args[i])
            {
                case "--port":
                    options.Port = int.Parse(Next(), CultureInfo.InvariantCulture);
                    break;
                case "--data-dir":
                    options.DataDirectory = Next();
                    break;
                case "--api-key":
                    options.ApiKey = Next();
                    break;
                case "--realistic":
                    options.Timing = SandboxTiming.Realistic;
                    break;
                default:
                    await Console.Error.WriteLineAsync($"Unknown option {args[i]}. Use --port N, --data-dir D, --api-key K, --realistic.").ConfigureAwait(false);
                    return 2;
            }
        }

        options.DataDirectory ??= Path.Combine(Path.GetTempPath(), "mjmcp-sandbox");
        await using var server = await SandboxServer.StartAsync(options, cancellationToken).ConfigureAwait(false);
        Console.Out.WriteLine($"MjMcp sandbox listening on {server.BaseUrl}");
        Console.Out.Flush();
        await Console.Error.WriteLineAsync($"Data: {options.DataDirectory}. Any non-empty Authorization key is accepted{(options.ApiKey is null ? string.Empty : " only if it matches --api-key")}. Ctrl+C stops.").ConfigureAwait(false);
        var stopped = new TaskCompletionSource();
        using var registration = cancellationToken.Register(() => stopped.TrySetResult());
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stopped.TrySetResult();
        };
        await stopped.Task.ConfigureAwait(false);
        return 0;
    }
}
