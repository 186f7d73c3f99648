using System.Text.Json.Nodes;
using MjMcp.Imaging;

namespace MjMcp.Server.Tests;

/// <summary>upload_image takes a JPEG as well as a PNG, and its output schema declares the image_url it answers with.</summary>
public sealed class JpegUploadTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public JpegUploadTests(SandboxFixture fixture) => _fixture = fixture;

    /// <summary>
    /// A 16x8 grey baseline JPEG of two 8x8 blocks: the left one grey 128, the right one 148 (DC 10 x quantizer 16 / 8
    /// above the level shift). Built by hand, a few bytes of markers, because no JPEG encoder is referenced by the tests
    /// (the imaging library only decodes JPEG). One Huffman code per symbol keeps the scan to two bytes.
    /// </summary>
    internal static byte[] TwoBlockJpeg()
    {
        var bytes = new List<byte> { 0xFF, 0xD8 }; // SOI
        void Segment(byte marker, params byte[] payload)
        {
            bytes.AddRange([0xFF, marker, (byte)((payload.Length + 2) >> 8), (byte)(payload.Length + 2)]);
            bytes.AddRange(payload);
        }

        Segment(0xE0, [(byte)'J', (byte)'F', (byte)'I', (byte)'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]); // APP0 JFIF 1.1
        Segment(0xDB, [0x00, .. Enumerable.Repeat((byte)16, 64)]); // quantization table 0: all 16
        Segment(0xC0, [8, 0, 8, 0, 16, 1, 1, 0x11, 0]); // SOF0: 8 bits, 8 high, 16 wide, one component (1x1, table 0)
        Segment(0xC4, [0x00, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]); // DC table 0: "0" = size 0, "10" = size 4
        Segment(0xC4, [0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00]); // AC table 0: "0" = end of block
        Segment(0xDA, [1, 1, 0x00, 0, 63, 0]); // SOS: one component, tables 0/0, full spectral range

        // Block 1: DC size 0 "0", EOB "0". Block 2: DC size 4 "10" + 10 "1010", EOB "0". Then 1-bits pad the byte.
        bytes.AddRange([0b0010_1010, 0b0111_1111]);
        bytes.AddRange([0xFF, 0xD9]); // EOI
        return [.. bytes];
    }

    [Fact]
    public void TheHandBuiltJpegDecodesToTwoGreyBlocks()
    {
        var image = PngCodec.Decode(TwoBlockJpeg());
        Assert.Equal((16, 8), (image.Width, image.Height));
        Assert.InRange(image.Pixels[0], 126, 130);
        Assert.InRange(image.Pixels[15 * 4], 146, 150);
    }

    [Fact]
    public async Task AJpegUploadsAndDescribeTakesItsUrl()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var tools = await server.Client.ListToolsAsync();
        var schema = Assert.Single(tools, t => t.Name == "upload_image").ProtocolTool.OutputSchema!.Value;
        Assert.Equal("string", schema.GetProperty("properties").GetProperty("image_url").GetProperty("type").GetString());

        // Plain base64 (no data: URL): the server recognises the JPEG by its bytes.
        var result = await server.CallAsync("upload_image", new JsonObject { ["image_base64"] = Convert.ToBase64String(TwoBlockJpeg()) });
        Assert.False(result.IsError == true, ServerProcess.Text(result));
        var url = result.StructuredContent!.Value.GetProperty("image_url").GetString()!;
        Assert.StartsWith(_fixture.Sandbox.BaseUrl + "images/", url, StringComparison.Ordinal);

        // The provider kept the picture: the stored image has the JPEG's size and its two shades.
        using var http = new HttpClient();
        var stored = PngCodec.Decode(await http.GetByteArrayAsync(new Uri(url)));
        Assert.Equal((16, 8), (stored.Width, stored.Height));
        Assert.True(stored.Pixels[15 * 4] > stored.Pixels[0] + 10, "the right block should be lighter than the left");

        var described = await server.OkAsync("describe", new JsonObject { ["image_url"] = url });
        Assert.Equal(4, described.GetProperty("result").GetProperty("prompts").GetArrayLength());
    }
}
