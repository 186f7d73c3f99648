using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace MjMcp.Cli;

/// <summary>
/// <c>mjmcp demo "prompt"</c>: a person watches the whole workflow run through the MCP tools of a real
/// <c>mjmcp</c> server process (spawned over stdio, like any MCP client would): progress bars on stderr
/// (Spectre.Console on a terminal; plain lines, no escape codes, when stderr is redirected), every image saved as a PNG,
/// and the task tree at the end.
/// </summary>
public static class Demo
{
    /// <summary>Runs the demo: 0 when every step worked, 1 (with the reason on one line) when one failed.</summary>
    public static async Task<int> RunAsync(string prompt, string outputDir, string? dataDir, string? timing, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(prompt);
        var view = DemoView.ForStandardError();
        try
        {
            return await RunAsync(view, prompt, outputDir, dataDir, timing, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or HttpRequestException or IOException or UnauthorizedAccessException or McpException)
        {
            view.Line($"mjmcp demo: {ex.Message}");
            return 1;
        }
    }

    private static async Task<int> RunAsync(DemoView view, string prompt, string outputDir, string? dataDir, string? timing, CancellationToken cancellationToken)
    {
        var output = Path.GetFullPath(outputDir);
        Directory.CreateDirectory(output);
        var (command, prefix) = SelfCommand();
        var arguments = new List<string>(prefix) { "--sandbox-timing", timing ?? "brisk" };
        if (dataDir is not null)
        {
            arguments.AddRange(["--data-dir", dataDir]);
        }

        var transport = new StdioClientTransport(new StdioClientTransportOptions
        {
            Name = "mjmcp",
            Command = command,
            Arguments = arguments,
            StandardErrorLines = line => view.Line("  server: " + line),
        });
        await using var client = await McpClient.CreateAsync(transport, new McpClientOptions { ProtocolVersion = "2025-11-25" }, cancellationToken: cancellationToken).ConfigureAwait(false);
        using var http = new HttpClient();
        view.Line($"Connected to {client.ServerInfo?.Name} {client.ServerInfo?.Version}; saving images to {output}");

        var grid = await StepAsync(view, client, "imagine", new() { ["prompt"] = prompt }, cancellationToken).ConfigureAwait(false);
        await SaveAsync(view, http, grid, output, "1-imagine", cancellationToken).ConfigureAwait(false);
        var pick = await StepAsync(view, client, "upscale_1x", new() { ["parent_task_id"] = TaskId(grid), ["index"] = 2 }, cancellationToken).ConfigureAwait(false);
        await SaveAsync(view, http, pick, output, "2-upscale", cancellationToken).ConfigureAwait(false);
        var panned = await StepAsync(view, client, "pan", new() { ["parent_task_id"] = TaskId(pick), ["direction"] = "left" }, cancellationToken).ConfigureAwait(false);
        await SaveAsync(view, http, panned, output, "3-pan-left", cancellationToken).ConfigureAwait(false);
        var pick2 = await StepAsync(view, client, "upscale_1x", new() { ["parent_task_id"] = TaskId(panned), ["index"] = 1 }, cancellationToken).ConfigureAwait(false);
        await SaveAsync(view, http, pick2, output, "4-upscale", cancellationToken).ConfigureAwait(false);
        var alt = await StepAsync(view, client, "upscale_alt", new() { ["parent_task_id"] = TaskId(pick2), ["type"] = "creative" }, cancellationToken).ConfigureAwait(false);
        await SaveAsync(view, http, alt, output, "5-upscale-alt", cancellationToken).ConfigureAwait(false);

        view.Line(string.Empty);
        view.Line("Task tree:");
        foreach (var (tool, result, depth) in new[] { ("imagine", grid, 0), ("upscale_1x", pick, 1), ("pan", panned, 2), ("upscale_1x", pick2, 3), ("upscale_alt", alt, 4) })
        {
            view.Line($"{new string(' ', depth * 2)}└ {tool} {TaskId(result)} ({Text(result, "stage")})");
        }

        view.Line($"Images: {output}");
        return 0;
    }

    private static async Task<JsonElement> StepAsync(DemoView view, McpClient client, string tool, JsonObject args, CancellationToken cancellationToken)
    {
        var token = new ProgressToken(Guid.NewGuid().ToString("N"));
        var request = new CallToolRequestParams
        {
            Name = tool,
            Arguments = JsonSerializer.Deserialize(args.ToJsonString(), McpJsonContext.Default.DictionaryStringJsonElement),
            Meta = new JsonObject { ["progressToken"] = token.ToString() },
        };
        var result = await view.StepAsync(tool, async report =>
        {
            await using var handler = client.RegisterNotificationHandler(NotificationMethods.ProgressNotification, (notification, _) =>
            {
                if (notification.Params is { } p && p["progressToken"]?.GetValue<string>() == token.ToString() && p["progress"] is { } value)
                {
                    report(Math.Clamp(value.GetValue<double>(), 0, 100), p["message"]?.GetValue<string>() ?? string.Empty);
                }

                return default;
            });
            return await client.CallToolAsync(request, cancellationToken).ConfigureAwait(false);
        }).ConfigureAwait(false);
        var text = string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text));
        if (result.IsError == true || result.StructuredContent is not { } structured)
        {
            throw new InvalidOperationException($"{tool} failed: {text}");
        }

        view.Line(string.Join("\n", text.Split('\n').Take(6).Select(l => "    " + l)));
        return structured;
    }

    private static async Task SaveAsync(DemoView view, HttpClient http, JsonElement result, string output, string name, CancellationToken cancellationToken)
    {
        var url = result.TryGetProperty("grid_image_url", out var grid) ? grid.GetString()
            : result.TryGetProperty("images", out var images) && images.GetArrayLength() > 0 ? images[0].GetProperty("url").GetString() : null;
        if (url is null)
        {
            return;
        }

        var bytes = await http.GetByteArrayAsync(new Uri(url), cancellationToken).ConfigureAwait(false);
        var path = Path.Combine(output, name + ".png");
        await File.WriteAllBytesAsync(path, bytes, cancellationToken).ConfigureAwait(false);
        view.Line($"    saved {path} ({(bytes.Length / 1024).ToString(CultureInfo.InvariantCulture)} KiB)");
    }

    private static string TaskId(JsonElement result) => Text(result, "task_id");

    private static string Text(JsonElement result, string name) =>
        result.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : "?";

    /// <summary>How to start this program again: the apphost or NativeAOT binary itself, or dotnet with the dll.</summary>
    private static (string Command, string[] Prefix) SelfCommand()
    {
        var process = Environment.ProcessPath ?? "mjmcp";
        var name = Path.GetFileNameWithoutExtension(process);
        if (string.Equals(name, "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return (process, [Path.Combine(AppContext.BaseDirectory, "mjmcp.dll")]);
        }

        return (process, []);
    }
}

/// <summary>Source-generated JSON metadata for the few types the server itself (de)serializes.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, JsonElement>))]
internal sealed partial class McpJsonContext : System.Text.Json.Serialization.JsonSerializerContext
{
}
