using System.Text.Json;
using System.Text.Json.Nodes;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;

// The roots API is marked deprecated in ModelContextProtocol 2.4 (SEP-2577); the server still asks for roots.
#pragma warning disable MCP9005

namespace MjMcp.Server.Tests;

/// <summary>upload_image over the real server on stdio: base64 → a URL that blend accepts; the path form only inside the client's roots.</summary>
public sealed class UploadImageTests : IClassFixture<SandboxFixture>
{
    private const string RootsFix = "send image_base64 instead, or add the folder as a root";

    private readonly SandboxFixture _fixture;

    public UploadImageTests(SandboxFixture fixture) => _fixture = fixture;

    private static byte[] SmallPng()
    {
        var image = new RgbaImage(64, 48);
        for (var i = 0; i < image.Pixels.Length; i += 4)
        {
            image.Pixels[i] = (byte)(i % 256);
            image.Pixels[i + 1] = 90;
            image.Pixels[i + 2] = 200;
            image.Pixels[i + 3] = 255;
        }

        return PngCodec.Encode(image);
    }

    private static Action<McpClientOptions> WithRoots(params string[] folders) => options =>
    {
        options.Capabilities = new ClientCapabilities { Roots = new RootsCapability() };
        options.Handlers = new McpClientHandlers
        {
            RootsHandler = (_, _) => ValueTask.FromResult(new ListRootsResult
            {
                Roots = [.. folders.Select(f => new Root { Uri = new Uri(f).AbsoluteUri, Name = Path.GetFileName(f) })],
            }),
        };
    };

    private static void AssertRefused(CallToolResult result, string code, string fragment)
    {
        Assert.True(result.IsError == true, ServerProcess.Text(result));
        var error = result.StructuredContent!.Value.GetProperty("error");
        Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Contains(fragment, error.GetProperty("message").GetString()!, StringComparison.Ordinal);
        Assert.Contains(fragment, ServerProcess.Text(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUploadedBase64PngBlendsWithAGridImage()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var tools = await server.Client.ListToolsAsync();
        var upload = Assert.Single(tools, t => t.Name == "upload_image");
        Assert.Contains("image_base64", upload.ProtocolTool.InputSchema.GetRawText(), StringComparison.Ordinal);

        var result = await server.CallAsync("upload_image", new JsonObject { ["image_base64"] = "data:image/png;base64," + Convert.ToBase64String(SmallPng()), ["file_name"] = "mine.png" });
        Assert.False(result.IsError == true, ServerProcess.Text(result));
        var url = result.StructuredContent!.Value.GetProperty("image_url").GetString()!;
        Assert.StartsWith(_fixture.Sandbox.BaseUrl + "images/", url, StringComparison.Ordinal);
        Assert.Contains("image_urls", ServerProcess.Text(result), StringComparison.Ordinal);
        Assert.Contains("describe", ServerProcess.Text(result), StringComparison.Ordinal);

        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "a harbour to blend with" });
        var gridImage = grid.GetProperty("images")[0].GetProperty("url").GetString()!;
        var blend = await server.OkAsync("blend", new JsonObject { ["image_urls"] = new JsonArray(url, gridImage) });
        Assert.Equal("grid", blend.GetProperty("stage").GetString());
        Assert.Equal(4, blend.GetProperty("images").GetArrayLength());
    }

    [Fact]
    public async Task BadArgumentsAreRefused()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        AssertRefused(await server.CallAsync("upload_image", new JsonObject()), "invalid_argument", "exactly one");
        AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["image_base64"] = Convert.ToBase64String(SmallPng()), ["path"] = "/tmp/x.png" }), "invalid_argument", "exactly one");
        AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["image_base64"] = "%%% not base64 %%%" }), "invalid_argument", "not valid base64");
        AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["image_base64"] = Convert.ToBase64String("hello, not an image"u8.ToArray()) }), "invalid_argument", "neither a PNG nor a JPEG");
    }

    [Fact]
    public async Task APathIsAcceptedOnlyInsideADeclaredRoot()
    {
        var inside = Paths.TempDir("upload-root");
        var outside = Paths.TempDir("upload-outside");
        var good = Path.Combine(inside, "photo.png");
        var bad = Path.Combine(outside, "photo.png");
        await File.WriteAllBytesAsync(good, SmallPng());
        await File.WriteAllBytesAsync(bad, SmallPng());

        await using (var server = await ServerProcess.StartAsync(_fixture.Sandbox, configureClient: WithRoots(inside)))
        {
            var ok = await server.CallAsync("upload_image", new JsonObject { ["path"] = good });
            Assert.False(ok.IsError == true, ServerProcess.Text(ok));
            Assert.StartsWith(_fixture.Sandbox.BaseUrl + "images/", ok.StructuredContent!.Value.GetProperty("image_url").GetString()!, StringComparison.Ordinal);

            var refused = await server.CallAsync("upload_image", new JsonObject { ["path"] = bad });
            AssertRefused(refused, "path_outside_roots", RootsFix);
            Assert.Equal(RootsFix, refused.StructuredContent!.Value.GetProperty("error").GetProperty("fix").GetProperty("then").GetString());

            // A way out of the root through '..' is outside too.
            AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["path"] = Path.Combine(inside, "..", Path.GetFileName(outside), "photo.png") }), "path_outside_roots", RootsFix);
            AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["path"] = "photo.png" }), "path_outside_roots", RootsFix);
        }

        await using (var server = await ServerProcess.StartAsync(_fixture.Sandbox))
        {
            AssertRefused(await server.CallAsync("upload_image", new JsonObject { ["path"] = good }), "no_roots", RootsFix);
        }
    }
}
