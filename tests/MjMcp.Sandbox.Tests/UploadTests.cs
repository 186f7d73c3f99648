using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>POST /upload: multipart field image → {"imageURL"} of an image the sandbox stores, usable by describe and blend.</summary>
public sealed class UploadTests
{
    private static byte[] SmallPng(byte shade = 200)
    {
        var pixels = new byte[48 * 32 * 4];
        for (var i = 0; i < pixels.Length; i += 4)
        {
            pixels[i] = shade;
            pixels[i + 1] = (byte)(i % 251);
            pixels[i + 2] = 40;
            pixels[i + 3] = 255;
        }

        return PngCodec.Encode(new RgbaImage(48, 32, pixels));
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> UploadAsync(HttpClient http, HttpContent content)
    {
        using (content)
        {
            using var response = await http.PostAsync("upload", content);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
        }
    }

    private static MultipartFormDataContent Form(byte[] bytes, string field = "image", string fileName = "me.png", string mediaType = "image/png")
    {
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return new MultipartFormDataContent { { file, field, fileName } };
    }

    [Fact]
    public async Task AGoodPngBecomesAnOwnImageThatDescribeAndBlendAccept()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions { ApiKey = "key-1", CandidateSize = 64 });
        await using var _ = server;
        using var __ = http;

        var (status, body) = await UploadAsync(http, Form(SmallPng()));
        Assert.True(status == HttpStatusCode.OK, $"{status} {body}");
        var url = body.GetProperty("imageURL").GetString()!;
        Assert.StartsWith(server.BaseUrl + "images/", url, StringComparison.Ordinal);

        using (var image = await http.GetAsync(new Uri(url)))
        {
            Assert.Equal(HttpStatusCode.OK, image.StatusCode);
            Assert.Equal((48, 32), PngCodec.ReadSize(await image.Content.ReadAsByteArrayAsync()));
        }

        var describe = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/describe", new JsonObject { ["image_url"] = url }));
        Assert.Equal("finished", describe.GetProperty("status").GetString());
        Assert.Equal(4, describe.GetProperty("content").GetArrayLength());

        var (_, second) = await UploadAsync(http, Form(SmallPng(30), fileName: "other.png"));
        var blend = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/blend", new JsonObject { ["image_urls"] = new JsonArray(url, second.GetProperty("imageURL").GetString()) }));
        Assert.Equal("finished", blend.GetProperty("status").GetString());
        Assert.Equal(4, blend.GetProperty("image_urls").GetArrayLength());
    }

    [Fact]
    public async Task BadInputIsAProviderStyle400()
    {
        var (server, http) = await Wire.StartAsync(new SandboxOptions { ApiKey = "key-1" });
        await using var _ = server;
        using var __ = http;

        var (status, body) = await UploadAsync(http, Form(Encoding.UTF8.GetBytes("this is not an image at all"), fileName: "notes.png"));
        Wire.AssertError(status, body, HttpStatusCode.BadRequest, "not a readable PNG or JPEG");

        (status, body) = await UploadAsync(http, Form(SmallPng(), field: "file"));
        Wire.AssertError(status, body, HttpStatusCode.BadRequest, "'image' is required");

        (status, body) = await UploadAsync(http, Form([]));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("image", body.GetProperty("message").GetString()!, StringComparison.Ordinal);

        (status, body) = await UploadAsync(http, new StringContent("{\"image\":\"x\"}", Encoding.UTF8, "application/json"));
        Wire.AssertError(status, body, HttpStatusCode.BadRequest, "multipart/form-data");
    }

    [Fact]
    public async Task WithoutTheKeyItIs401AndNothingIsStored()
    {
        await using var server = await SandboxServer.StartAsync(new SandboxOptions { ApiKey = "key-1" });
        foreach (var key in new[] { string.Empty, "Bearer", "wrong" })
        {
            using var http = Wire.Client(server.BaseUrl, key);
            var (status, _) = await UploadAsync(http, Form(SmallPng()));
            Assert.Equal(HttpStatusCode.Unauthorized, status);
        }

        using var good = Wire.Client(server.BaseUrl, "Bearer key-1");
        using var account = await good.GetAsync("account");
        Assert.Equal(0, JsonDocument.Parse(await account.Content.ReadAsStringAsync()).RootElement.GetProperty("total_images").GetInt64());
    }
}
