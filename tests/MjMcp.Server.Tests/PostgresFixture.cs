using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace MjMcp.Server.Tests;

/// <summary>Every PostgreSQL test shares one temporary server (<see cref="PostgresFixture"/>).</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "PostgreSQL";
}

/// <summary>
/// A throw-away PostgreSQL server from the distribution's packages: initdb on a temporary directory, pg_ctl start on a
/// free port, listening on 127.0.0.1 only (its unix socket in that directory), as the unprivileged <c>postgres</c> user
/// when the tests run as root. Stopped (pg_ctl stop -m fast) and removed when the run ends. Each caller gets a database of
/// its own (<see cref="CreateDatabaseAsync"/>). Without PostgreSQL installed every test that needs it fails, naming the fix.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private string? _root;
    private string? _bin;
    private int _databases;

    /// <summary>The server's port on 127.0.0.1.</summary>
    public int Port { get; private set; }

    /// <summary>The superuser's connection string to a database.</summary>
    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username=postgres;Database={database};Timeout=10";

    /// <summary>A new, empty database; its connection string.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Interlocked.Increment(ref _databases).ToString(CultureInfo.InvariantCulture)}_{Guid.NewGuid().ToString("N")[..6]}".ToLowerInvariant();
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    public async Task InitializeAsync()
    {
        _bin = FindBinaries() ?? throw new InvalidOperationException(
            "PostgreSQL is not installed, and the journal's PostgreSQL tests need its initdb and pg_ctl (looked in PATH, /usr/lib/postgresql/*/bin and /usr/local/bin). " +
            "Install it: sudo apt-get install -y postgresql (.ci/run does this on a fresh machine).");
        var asRoot = Environment.UserName == "root";
        _root = Path.Combine(Path.GetTempPath(), "mjmcp-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_root);
        if (asRoot)
        {
            await RunAsync("chown", ["postgres:postgres", _root], asPostgres: false);
        }

        var data = Path.Combine(_root, "data");
        await RunAsync(Path.Combine(_bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"], asRoot);
        Port = Paths.FreePort();
        var options = $"-p {Port.ToString(CultureInfo.InvariantCulture)} -k {_root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400";
        await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(_root, "server.log"), "-o", options, "-w", "-t", "60", "start"], asRoot);
    }

    public async Task DisposeAsync()
    {
        if (_root is null || _bin is null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        try
        {
            await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_root, "data"), "-m", "fast", "-w", "stop"], Environment.UserName == "root");
        }
        finally
        {
            try
            {
                Directory.Delete(_root, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The folder with initdb and pg_ctl: PATH, the newest /usr/lib/postgresql/N/bin, /usr/local/bin.</summary>
    private static string? FindBinaries()
    {
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).ToList();
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        candidates.Add("/usr/local/bin");
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        if (asPostgres)
        {
            foreach (var a in new[] { "-u", "postgres", "--", file })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // pg_ctl start leaves the server running with these pipes inherited: read them to the end in the background only.
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            var text = await Task.WhenAny(Task.WhenAll(output, errors), Task.Delay(2000)) is var done && output.IsCompleted && errors.IsCompleted ? output.Result + errors.Result : string.Empty;
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', arguments)} failed ({process.ExitCode}): {text}");
        }
    }
}
