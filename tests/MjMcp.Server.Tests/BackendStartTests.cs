using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace MjMcp.Server.Tests;

/// <summary>
/// The embedded sandbox starts beside the MCP handshake, not before it: initialize, tools/list and prompts/list answer
/// while the backend is held back, a tool call waits for it and then works, and a backend that cannot start gives a
/// tool error naming the fix while the server keeps answering (and the next call tries again).
/// </summary>
public sealed class BackendStartTests
{
    [Fact]
    public async Task TheHandshakeAnswersBeforeTheSandboxStartsAndTheFirstCallWaitsForIt()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var server = await InProcessServer.StartAsync(Paths.TempDir("backend-held"), async ct =>
        {
            held.TrySetResult();
            await release.Task.WaitAsync(ct);
        });

        var tools = await server.Client.ListToolsAsync();
        Assert.Contains(tools, t => t.Name == "imagine");
        await held.Task; // the handshake is done, so the start has begun; it is held: no sandbox is listening yet
        Assert.NotEmpty(await server.Client.ListPromptsAsync());
        Assert.False(server.Backend.IsReady);

        var call = server.Client.CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = "a lighthouse" }).AsTask();
        Assert.NotEmpty(await server.Client.ListToolsAsync()); // still answering while the call waits
        Assert.False(call.IsCompleted); // it cannot finish before the sandbox exists
        Assert.False(server.Backend.IsReady);

        release.SetResult();
        var result = await call;
        Assert.False(result.IsError == true, string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        Assert.Equal("finished", result.StructuredContent!.Value.GetProperty("state").GetString());
        Assert.Equal("grid", result.StructuredContent!.Value.GetProperty("stage").GetString());
        Assert.True(server.Backend.IsReady);
        Assert.True(File.Exists(Path.Combine(server.DataDir, "sandbox.port")));
    }

    [Fact]
    public async Task ASandboxThatCannotStartIsAToolErrorWithTheFixAndTheNextCallRetries()
    {
        var dataDir = Paths.TempDir("backend-broken");
        var blocker = Path.Combine(dataDir, "sandbox");
        await File.WriteAllTextAsync(blocker, "a file where the sandbox wants its folder");
        await using var server = await InProcessServer.StartAsync(dataDir, null);

        var failed = await server.Client.CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = "a lighthouse" });
        Assert.True(failed.IsError);
        var error = failed.StructuredContent!.Value.GetProperty("error");
        Assert.Equal(RefusalCodes.ProviderUnreachable, error.GetProperty("code").GetString());
        var message = error.GetProperty("message").GetString()!;
        Assert.Contains("embedded sandbox could not start", message, StringComparison.Ordinal);
        Assert.Contains("nothing was sent", message, StringComparison.Ordinal);
        Assert.Contains("MJMCP_DATA_DIR", message, StringComparison.Ordinal);

        // The server still answers, and once the cause is gone the next call starts the sandbox and works.
        Assert.NotEmpty(await server.Client.ListToolsAsync());
        File.Delete(blocker);
        var result = await server.Client.CallToolAsync("imagine", new Dictionary<string, object?> { ["prompt"] = "a lighthouse" });
        Assert.False(result.IsError == true, string.Join("\n", result.Content.OfType<TextContentBlock>().Select(t => t.Text)));
        Assert.Equal("finished", result.StructuredContent!.Value.GetProperty("state").GetString());
    }

    /// <summary>The MCP library hosted in the test process on the shipped spec, over in-memory pipes, with the embedded sandbox.</summary>
    private sealed class InProcessServer : IAsyncDisposable
    {
        private readonly IHost _host;
        private readonly Pipe _toServer;
        private readonly Pipe _toClient;

        private InProcessServer(IHost host, McpClient client, Pipe toServer, Pipe toClient, string dataDir)
        {
            _host = host;
            Client = client;
            _toServer = toServer;
            _toClient = toClient;
            DataDir = dataDir;
        }

        public McpClient Client { get; }

        public string DataDir { get; }

        public ServerBackend Backend => _host.Services.GetRequiredService<ServerBackend>();

        public static async Task<InProcessServer> StartAsync(string dataDir, Func<CancellationToken, Task>? beforeStart)
        {
            var toServer = new Pipe();
            var toClient = new Pipe();
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
            builder.AddMjMcpServer(MjMcp.Cli.MidjourneyToolDefinitions.Spec, o =>
            {
                o.ApiKey = null;
                o.BaseUrl = null;
                o.DataDir = dataDir;
                o.SandboxTiming = "instant";
            }).WithStreamServerTransport(toServer.Reader.AsStream(), toClient.Writer.AsStream());
            if (beforeStart is not null)
            {
                builder.Services.AddSingleton(new BackendStartHook(beforeStart));
            }

            var host = builder.Build();
            await host.StartAsync();
            var client = await McpClient.CreateAsync(
                new StreamClientTransport(toServer.Writer.AsStream(), toClient.Reader.AsStream()),
                new McpClientOptions { ClientInfo = new Implementation { Name = "backend-start-tests", Version = "1.0" } });
            return new InProcessServer(host, client, toServer, toClient, dataDir);
        }

        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await _toServer.Writer.CompleteAsync();
            await _host.StopAsync();
            _host.Dispose();
            await _toClient.Writer.CompleteAsync();
        }
    }
}
