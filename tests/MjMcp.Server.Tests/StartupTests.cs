using System.Text.Json.Nodes;

namespace MjMcp.Server.Tests;

/// <summary>
/// mjmcp's cold start leaves work until after the handshake (the embedded sandbox, the console logger's queue): a client
/// that calls imagine right after tools/list still gets its grid, and the server's log lines still reach stderr in the
/// console logger's format, never stdout.
/// </summary>
public sealed class StartupTests
{
    [Fact]
    public async Task TheFirstImagineRightAfterToolsListFinishesAndTheLogLinesReachStderr()
    {
        await using var server = await ServerProcess.StartAsync(null); // no key: the embedded sandbox

        var tools = await server.Client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "imagine");
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse at dusk" });
        Assert.Equal("finished", grid.GetProperty("state").GetString());
        Assert.Equal("grid", grid.GetProperty("stage").GetString());

        // Logged before the call could go ahead; the console logger writes from its own queue, so the lines may trail the result.
        var lines = await StderrAsync(server, l => l.Contains("MCP server ready; backend: embedded sandbox at http://127.0.0.1:", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("info: MjMcp.Server[1]", StringComparison.Ordinal));

        // The client read every stdout line as JSON-RPC: another call still works.
        Assert.NotEmpty(await server.Client.ListToolsAsync());
    }

    [Fact]
    public async Task ConsoleFormatterSettingsAreHonouredAndStdoutStaysJsonRpc()
    {
        // The standard way to ask for JSON log lines, one per line (a formatter and its options), in the appsettings.json
        // of the working directory; the default logger reads neither, so the server must switch to the standard console
        // provider for them.
        var folder = Paths.TempDir("appsettings");
        await File.WriteAllTextAsync(Path.Combine(folder, "appsettings.json"), """
            { "Logging": { "Console": { "FormatterName": "json", "FormatterOptions": { "JsonWriterOptions": { "Indented": false } } } } }
            """);
        await using var server = await ServerProcess.StartAsync(null, workingDirectory: folder);
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a lighthouse at dusk" });
        Assert.Equal("finished", grid.GetProperty("state").GetString());

        var lines = await StderrAsync(server, l => l.Contains("MCP server ready; backend: embedded sandbox at http://127.0.0.1:", StringComparison.Ordinal));
        var ready = Assert.Single(lines, l => l.Contains("MCP server ready", StringComparison.Ordinal));
        var json = JsonNode.Parse(ready)!;
        Assert.Equal("MjMcp.Server", (string?)json["Category"]);
        Assert.Equal("Information", (string?)json["LogLevel"]);
        Assert.NotEmpty(await server.Client.ListToolsAsync());
    }

    /// <summary>The server's stderr lines once one matches <paramref name="until"/> (or after 30 s, for the failure message).</summary>
    private static async Task<string[]> StderrAsync(ServerProcess server, Func<string, bool> until)
    {
        for (var i = 0; i < 300 && !server.Stderr.Any(until); i++)
        {
            await Task.Delay(100);
        }

        var lines = server.Stderr.ToArray();
        Assert.True(lines.Any(until), "stderr:\n" + string.Join("\n", lines));
        return lines;
    }
}
