using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;

namespace MjMcp.Server.Tests;

/// <summary>
/// The mjmcp command line as a person meets it: bad input is one line on stderr that names the fix, exit code 2 and no
/// stack trace; every command has help; settings come from appsettings.json, MJMCP_* variables and flags, in that order.
/// </summary>
public sealed class CliTests
{
    [Theory]
    [InlineData("--port", new[] { "sandbox", "--port", "abc" })]
    [InlineData("prompt", new[] { "demo", "" })]
    [InlineData("--sandbox-timing must be instant, brisk or realistic", new[] { "--sandbox-timing", "warp" })]
    [InlineData("--wait-seconds", new[] { "--wait-seconds", "99" })]
    [InlineData("MJMCP_API_KEY", new[] { "--api-key", "sk-secret-123" })]
    [InlineData("--api-key-env", new[] { "--api-key-env", "MJMCP_TEST_NO_SUCH_VARIABLE" })]
    [InlineData("--base-url", new[] { "settings", "--base-url", "not a url" })]
    [InlineData("--spec needs a value", new[] { "sandbox", "--spec" })]
    public async Task BadInputIsOneLineNamingTheFixWithExitCode2(string fix, string[] args)
    {
        var run = await RunAsync(args);

        Assert.Equal(2, run.Exit);
        var line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("mjmcp: ", line, StringComparison.Ordinal);
        Assert.Contains(fix, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sk-secret-123", run.Stderr, StringComparison.Ordinal);
        Assert.Equal(string.Empty, run.Stdout);
    }

    [Fact]
    public async Task TheSandboxPortMessageSaysWhatAPortIs()
    {
        var run = await RunAsync(["sandbox", "--port", "abc"]);
        Assert.Contains("--port needs a port number from 0 to 65535; got 'abc'", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadEnvironmentValueNamesTheVariable()
    {
        var timing = await RunAsync(["settings"], new() { ["MJMCP_SANDBOX_TIMING"] = "warp" });
        Assert.Equal(2, timing.Exit);
        Assert.Contains("MJMCP_SANDBOX_TIMING", timing.Stderr, StringComparison.Ordinal);
        Assert.Contains("instant, brisk, realistic", timing.Stderr, StringComparison.Ordinal);

        var wait = await RunAsync(["settings"], new() { ["MJMCP_WAIT_SECONDS"] = "soon" });
        Assert.Equal(2, wait.Exit);
        Assert.Contains("'soon' (from MJMCP_WAIT_SECONDS) is not a whole number", wait.Stderr, StringComparison.Ordinal);
        var range = await RunAsync(["settings"], new() { ["MJMCP_WAIT_SECONDS"] = "70" });
        Assert.Equal(2, range.Exit);
        Assert.Contains("MJMCP_WAIT_SECONDS", range.Stderr, StringComparison.Ordinal);
        Assert.Contains("0 to 50", range.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", wait.Stderr + timing.Stderr + range.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SandboxHelpListsEveryOption()
    {
        var run = await RunAsync(["sandbox", "--help"]);

        Assert.Equal(0, run.Exit);
        foreach (var option in new[] { "--port", "--data-dir", "--api-key", "--spec", "--realistic", "--strict", "--extended-statuses", "--status-seed", "--help" })
        {
            var line = Assert.Single(run.Stdout.Split('\n'), l => l.TrimStart().StartsWith(option + " ", StringComparison.Ordinal) || l.Contains(", " + option, StringComparison.Ordinal));
            Assert.True(line.Trim().Length > option.Length + 10, $"{option} has no description: {line}");
        }
    }

    [Fact]
    public async Task EveryCommandHasHelpForEveryOption()
    {
        foreach (var command in new[] { Array.Empty<string>(), ["settings"], ["demo"] })
        {
            var run = await RunAsync([.. command, "--help"]);
            Assert.Equal(0, run.Exit);
            Assert.Contains("--data-dir <DIR>", run.Stdout, StringComparison.Ordinal);
            Assert.Contains("--sandbox-timing <instant|brisk|realistic>", run.Stdout, StringComparison.Ordinal);
            Assert.DoesNotContain("--api-key <", run.Stdout, StringComparison.Ordinal); // the hidden refusal, never offered
        }

        var root = await RunAsync(["--help"]);
        foreach (var option in MjMcpSettings.All.Select(s => $"{s.Flag} <{s.HelpName}>").Append("--reset-journal"))
        {
            Assert.Contains(option, root.Stdout, StringComparison.Ordinal);
        }

        var shown = await RunAsync(["settings"]);
        Assert.Equal(0, shown.Exit);
        foreach (var setting in MjMcpSettings.All)
        {
            Assert.Contains(setting.Property + ": ", shown.Stdout, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void TheReadmeSettingsTableListsExactlyTheSettings()
    {
        // One table (MjMcpSettings.All) drives the variables, the flags and `mjmcp settings`; the README's must follow it.
        var rows = File.ReadLines(Path.Combine(Paths.RepoRoot(), "README.md"))
            .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^\| `(\w+)` \| `(MJMCP_\w+)`[^|]*\| `(--[\w-]+)"))
            .Where(m => m.Success)
            .Select(m => $"{m.Groups[1].Value} {m.Groups[2].Value} {m.Groups[3].Value}")
            .ToList();
        Assert.Equal(MjMcpSettings.All.Select(s => $"{s.Property} {s.Variable} {s.Flag}"), rows);
    }

    [Theory]
    [InlineData("--max-concurrent-jobs needs a whole number from 0 to 10000; got '-1'", new[] { "settings", "--max-concurrent-jobs=-1" })]
    [InlineData("--webhook-url needs an absolute http(s) URL such as https://mj.example.com/mjmcp/webhook; got 'ftp://x'", new[] { "settings", "--webhook-url", "ftp://x" })]
    [InlineData("--otlp-endpoint carries credentials or a query", new[] { "settings", "--otlp-endpoint", "http://user:pw@localhost:4317" })]
    [InlineData("--journal needs a value, e.g. --journal Host=", new[] { "settings", "--journal" })]
    public async Task EveryKindOfFlagIsCheckedWhileParsing(string expected, string[] args)
    {
        var run = await RunAsync(args);
        Assert.Equal(2, run.Exit);
        Assert.Contains(expected, run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("pw@", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AppSettingsAreOverriddenByTheEnvironmentAndTheEnvironmentByFlags()
    {
        var work = Paths.TempDir("cli-settings");
        var fromFile = Path.Combine(work, "data-from-file");
        await File.WriteAllTextAsync(Path.Combine(work, "appsettings.json"), new JsonObject
        {
            ["MjMcp"] = new JsonObject { ["WaitSeconds"] = 7, ["SandboxTiming"] = "realistic", ["DataDir"] = fromFile, ["WebhookPath"] = "/from-file", ["MaxConcurrentSubmits"] = 3 },
        }.ToJsonString());
        var env = new Dictionary<string, string?> { ["MJMCP_WAIT_SECONDS"] = "9", ["MJMCP_SANDBOX_TIMING"] = "instant", ["MJMCP_WEBHOOK_PATH"] = "/from-env", ["MJMCP_MY_KEY"] = "k-from-my-variable" };

        var fileOnly = Settings(await RunAsync(["settings"], workingDirectory: work));
        Assert.Equal(("7", "realistic", fromFile, "/from-file", "3"), (fileOnly["WaitSeconds"], fileOnly["SandboxTiming"], fileOnly["DataDir"], fileOnly["WebhookPath"], fileOnly["MaxConcurrentSubmits"]));
        Assert.StartsWith("(not set", fileOnly["ApiKey"], StringComparison.Ordinal);

        var withEnv = Settings(await RunAsync(["settings"], env, work));
        Assert.Equal(("9", "instant", fromFile, "/from-env", "3"), (withEnv["WaitSeconds"], withEnv["SandboxTiming"], withEnv["DataDir"], withEnv["WebhookPath"], withEnv["MaxConcurrentSubmits"]));

        var withFlags = await RunAsync(["settings", "--wait-seconds", "11", "--webhook-path", "/from-flag", "--api-key-env", "MJMCP_MY_KEY"], env, work);
        var flags = Settings(withFlags);
        Assert.Equal(("11", "instant", fromFile, "/from-flag", "3"), (flags["WaitSeconds"], flags["SandboxTiming"], flags["DataDir"], flags["WebhookPath"], flags["MaxConcurrentSubmits"]));
        Assert.Equal("(set)", flags["ApiKey"]);
        Assert.DoesNotContain("k-from-my-variable", withFlags.Stdout + withFlags.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABrokenAppSettingsFileIsOneLineNamingTheFile()
    {
        var work = Paths.TempDir("cli-broken-settings");
        await File.WriteAllTextAsync(Path.Combine(work, "appsettings.json"), "{ \"MjMcp\": { \"WaitSeconds\": ");

        var run = await RunAsync(["settings"], workingDirectory: work);

        Assert.Equal(2, run.Exit);
        Assert.Contains(Path.Combine(work, "appsettings.json"), run.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", run.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DemoWithRedirectedStderrPrintsPlainProgressLines()
    {
        var work = Paths.TempDir("cli-demo");
        var output = Path.Combine(work, "out");

        try
        {
            var run = await RunAsync(["demo", "a red fox in snow", "--out", output, "--data-dir", Path.Combine(work, "data"), "--sandbox-timing", "instant"], timeout: TimeSpan.FromMinutes(4));

            Assert.True(run.Exit == 0, run.Stderr);
            Assert.DoesNotContain('\u001b', run.Stderr);
            Assert.DoesNotContain('\r', run.Stderr);
            var lines = run.Stderr.Split('\n');
            foreach (var tool in new[] { "imagine", "upscale_1x", "pan", "upscale_alt" })
            {
                Assert.Contains(lines, l => l.TrimStart().StartsWith(tool + " ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" started", StringComparison.Ordinal));
                Assert.Contains(lines, l => l.TrimStart().StartsWith(tool + " ", StringComparison.Ordinal) && l.TrimEnd().EndsWith(" done", StringComparison.Ordinal));
            }

            Assert.Equal(5, Directory.GetFiles(output, "*.png").Length);
        }
        finally
        {
            Directory.Delete(work, recursive: true); // about 100 MB of PNGs and sandbox data
        }
    }

    [Fact]
    public async Task SandboxStrictAnswersAsTheProviderDocuments()
    {
        // Without a key: strict answers 401 with {}, the default adds errors[].msg and message.
        Assert.Equal("{}", await UnauthorizedBodyAsync("--strict"));
        Assert.Contains("\"message\"", await UnauthorizedBodyAsync(), StringComparison.Ordinal);
    }

    private static async Task<string> UnauthorizedBodyAsync(params string[] extra)
    {
        var dataDir = Paths.TempDir("cli-sandbox");
        var start = Start(["sandbox", "--port", "0", "--data-dir", dataDir, .. extra], null, null);
        using var process = Process.Start(start)!;
        try
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            string? line;
            while ((line = await process.StandardOutput.ReadLineAsync(deadline.Token)) is not null && !line.Contains("listening on ", StringComparison.Ordinal))
            {
            }

            Assert.NotNull(line);
            var url = new Uri(line[(line.IndexOf("listening on ", StringComparison.Ordinal) + 13)..].Trim());
            using var http = new HttpClient { BaseAddress = url };
            using var response = await http.PostAsync(new Uri("imagine", UriKind.Relative), new StringContent("{\"prompt\":\"a cat\"}", System.Text.Encoding.UTF8, "application/json"), deadline.Token);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            return (await response.Content.ReadAsStringAsync(deadline.Token)).Trim();
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static Dictionary<string, string> Settings((int Exit, string Stdout, string Stderr) run)
    {
        Assert.True(run.Exit == 0, run.Stderr);
        return run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(": ", 2))
            .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
    }

    private static ProcessStartInfo Start(string[] args, Dictionary<string, string?>? env, string? workingDirectory)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.WorkingDirectory = workingDirectory ?? Paths.TempDir("cli-cwd");
        start.ArgumentList.Add(Paths.ServerDll());
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var name in MjMcpServerOptions.EnvironmentVariables.Values)
        {
            start.Environment.Remove(name);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var pair in env ?? [])
        {
            start.Environment[pair.Key] = pair.Value;
        }

        return start;
    }

    /// <summary>Runs mjmcp with <paramref name="args"/> to its end, with no MJMCP_* setting from the test's environment but <paramref name="env"/>.</summary>
    internal static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string[] args, Dictionary<string, string?>? env = null, string? workingDirectory = null, TimeSpan? timeout = null)
    {
        using var process = Process.Start(Start(args, env, workingDirectory))!;
        process.StandardInput.Close();
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(2));
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
