using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.Protocol;
using MjMcp.Imaging;

namespace MjMcp.Server.Tests;

/// <summary>Previews fetch only http(s) images from the provider's hosts, and never fail a call.</summary>
public sealed class PreviewTests
{
    [Theory]
    [InlineData("https://api.apiframe.pro/x.png", true)]
    [InlineData("https://cdn.apiframe.pro/images/1.png", true)]
    [InlineData("https://apiframe.pro/1.png", true)]
    [InlineData("https://evil-apiframe.pro/1.png", false)]
    [InlineData("https://example.com/1.png", false)]
    [InlineData("file:///etc/passwd", false)]
    [InlineData("ftp://cdn.apiframe.pro/1.png", false)]
    [InlineData("http://127.0.0.1:8080/1.png", false)]
    public void OnlyTheProvidersHostsAreAllowed(string url, bool allowed) =>
        Assert.Equal(allowed, PreviewService.ProviderHosts(new Uri("https://api.apiframe.pro"), [])(new Uri(url)));

    [Fact]
    public void ALoopbackProviderAllowsOnlyItself()
    {
        var allowed = PreviewService.ProviderHosts(new Uri("http://127.0.0.1:5077/"), ["images.example.net"]);
        Assert.True(allowed(new Uri("http://127.0.0.1:5077/images/a.png")));
        Assert.True(allowed(new Uri("https://images.example.net/a.png")));
        Assert.False(allowed(new Uri("http://10.0.0.1/a.png")));
    }

    [Fact]
    public async Task AForbiddenOrBrokenPreviewIsNullNotAnError()
    {
        using var http = new HttpClient();
        var previews = new PreviewService(http, NullLogger<PreviewService>.Instance, PreviewService.ProviderHosts(new Uri("http://127.0.0.1:9/"), []));
        Assert.Null(await previews.TryGetAsync("file:///etc/passwd", CancellationToken.None));
        Assert.Null(await previews.TryGetAsync("not a url", CancellationToken.None));
        Assert.Null(await previews.TryGetAsync("http://127.0.0.1:9/nothing-listens-here.png", CancellationToken.None));
    }
}

/// <summary>
/// Light previews at the real size (1024-px candidates, a 2048² grid): at most 512 px and 60 KB, quadrants numbered so
/// a model can pick an index by looking, cached per task, and still readable after a restart on the same data directory.
/// </summary>
public sealed class LightPreviewTests
{
    private static readonly Lazy<byte[]> RealGrid = new(() =>
    {
        var parts = Enumerable.Range(1, 4).Select(i => Pictures.Candidate("a lighthouse at dusk, stormy sea", 7, i)).ToArray();
        return PngCodec.Encode(Pictures.Grid(parts[0], parts[1], parts[2], parts[3]));
    });

    [Fact]
    public void AGridPreviewAtTheRealSizeIsAtMost512PxAnd60KB()
    {
        Assert.Equal((2048, 2048), PngCodec.ReadSize(RealGrid.Value));
        var preview = PreviewService.Make(RealGrid.Value, grid: true);
        Assert.True(preview.Length <= PreviewService.MaxBytes, $"{preview.Length} bytes");
        Assert.True(preview.Length <= 60 * 1024);
        Assert.Equal((byte)0xFF, preview[0]); // a JPEG (SOI marker)
        Assert.Equal((byte)0xD8, preview[1]);
        var image = PngCodec.Decode(preview);
        Assert.Equal((512, 512), (image.Width, image.Height));
    }

    [Fact]
    public void ANonSquareImageKeepsItsAspectWithin512()
    {
        var wide = PngCodec.Encode(Pictures.Candidate("a wide harbour", 3, 1, 1456, 816));
        var image = PngCodec.Decode(PreviewService.Make(wide, grid: false));
        Assert.Equal(512, image.Width);
        Assert.InRange(image.Height, 286, 288);
    }

    [Fact]
    public void EachQuadrantShowsItsNumberAsAWhiteDigitOnADarkBadge()
    {
        var numbered = PngCodec.Decode(PreviewService.Make(RealGrid.Value, grid: true));
        var plain = PngCodec.Decode(PreviewService.Make(RealGrid.Value, grid: false));
        for (var index = 1; index <= 4; index++)
        {
            var badge = QuadrantBadges.Layout(numbered.Width, numbered.Height, index);

            // The badge sits inside its own quadrant, and is large: at least 1/8 of the quadrant's width.
            Assert.Equal(index is 2 or 4, badge.X >= numbered.Width / 2);
            Assert.Equal(index is 3 or 4, badge.Y >= numbered.Height / 2);
            Assert.True(badge.Width * 8 >= numbered.Width / 2, $"badge {badge.Width} px wide");

            // Read the digit back cell by cell from the decoded JPEG: bright cells must be exactly this index's glyph.
            var seen = new bool[QuadrantBadges.GlyphWidth, QuadrantBadges.GlyphHeight];
            for (var row = 0; row < QuadrantBadges.GlyphHeight; row++)
            {
                for (var column = 0; column < QuadrantBadges.GlyphWidth; column++)
                {
                    var luma = CellLuma(numbered, badge, column, row);
                    Assert.True(luma is > 200 or < 70, $"quadrant {index} cell ({column},{row}) is neither white nor dark: {luma}");
                    seen[column, row] = luma > 200;
                }
            }

            for (var digit = 1; digit <= 4; digit++)
            {
                var matches = Enumerable.Range(0, QuadrantBadges.GlyphHeight).All(row => Enumerable.Range(0, QuadrantBadges.GlyphWidth).All(column => seen[column, row] == QuadrantBadges.Cell(digit, column, row)));
                Assert.Equal(digit == index, matches);
            }

            // And the badge really changed the picture there: the same area of the plain preview differs clearly.
            var difference = 0.0;
            var samples = 0;
            for (var y = badge.Y; y < badge.Y + badge.Height; y += 2)
            {
                for (var x = badge.X; x < badge.X + badge.Width; x += 2)
                {
                    difference += Math.Abs(Luma(numbered, x, y) - Luma(plain, x, y));
                    samples++;
                }
            }

            Assert.True(difference / samples > 40, $"quadrant {index}: the badge area differs from the picture by only {difference / samples:F1}");
        }
    }

    [Theory]
    [InlineData(4, 2048, 2048, 512)]
    [InlineData(4, 301, 203, 100)]
    [InlineData(3, 301, 203, 100)]
    [InlineData(3, 97, 1000, 64)]
    public void ShrinkingWhileDecodingGivesTheSamePixelsAsAFullDecode(int channels, int width, int height, int maxSide)
    {
        // Every PNG row filter (None, Sub, Up, Average, Paeth in turn), RGB and RGBA, uneven box sizes.
        var source = Pictures.Candidate("filters " + width, 5, 2, width, height);
        var png = width == 2048 ? RealGrid.Value : MjMcp.TestSupport.TestPngs.Filtered(source, channels);
        var expected = Pictures.Thumbnail(PngCodec.Decode(png), maxSide);
        var shrunk = PngThumbnail.TryDecode(png, maxSide);
        Assert.NotNull(shrunk);
        Assert.Equal((expected.Width, expected.Height), (shrunk.Width, shrunk.Height));
        Assert.Equal(Pictures.PixelHash(expected), Pictures.PixelHash(shrunk));
    }

    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    public void ShrinkingKeepsTranslucencyAndEveryChannelApartAsAFullDecodeDoes(int channels)
    {
        // Noise in every channel, alpha included (a candidate picture is opaque): each channel's box average must be its
        // own, and an RGB image's thumbnail is opaque.
        var random = new Random(11);
        var pixels = new byte[333 * 257 * 4];
        random.NextBytes(pixels);
        var png = MjMcp.TestSupport.TestPngs.Filtered(new RgbaImage(333, 257, pixels), channels);
        var expected = Pictures.Thumbnail(PngCodec.Decode(png), 70);
        var shrunk = PngThumbnail.TryDecode(png, 70);
        Assert.NotNull(shrunk);
        Assert.Equal(expected.Pixels, shrunk.Pixels);
        Assert.Equal(channels == 3, shrunk.Pixels.Where((_, i) => i % 4 == 3).All(a => a == 255));
    }

    [Fact]
    public void APngThatNeedsNoShrinkingOrIsNotCoveredIsLeftToTheFullDecoder()
    {
        var small = PngCodec.Encode(Pictures.Candidate("small", 1, 1, 64, 64));
        Assert.Null(PngThumbnail.TryDecode(small, 512));
        Assert.Null(PngThumbnail.TryDecode("not a png at all, just text"u8, 512));
        var broken = RealGrid.Value[..(RealGrid.Value.Length / 2)];
        Assert.Throws<InvalidDataException>(() => PngThumbnail.TryDecode(broken, 512));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ADownloadedGridGivesThePreviewOfItsBytesWithOrWithoutAnAnnouncedLength(bool announced)
    {
        // A 2048² grid's PNG is megabytes: without a Content-Length the download buffer (1 MiB at first) grows while reading.
        using var http = new HttpClient(new CountingHandler(RealGrid.Value, () => { }, announced));
        var previews = new PreviewService(http, NullLogger<PreviewService>.Instance);
        Assert.True(RealGrid.Value.Length > 1 << 20);
        for (var task = 0; task < 3; task++)
        {
            // Several downloads in a row reuse the rented buffers: each preview is still that of the whole grid.
            var made = await previews.TryGetAsync("http://images.test/grid.png", "task-" + task, true, CancellationToken.None);
            Assert.Equal(PreviewService.Make(RealGrid.Value, grid: true), made);
        }
    }

    [Fact]
    public async Task APreviewIsMadeOncePerTaskAndKeptInTheDataDirectory()
    {
        var requests = 0;
        using var http = new HttpClient(new CountingHandler(RealGrid.Value, () => Interlocked.Increment(ref requests)));
        var cache = Paths.TempDir("preview-cache");
        var first = new PreviewService(http, NullLogger<PreviewService>.Instance, null, cache);
        var made = await first.TryGetAsync("http://images.test/grid.png", "task-1", true, CancellationToken.None);
        Assert.NotNull(made);
        Assert.Same(made, await first.TryGetAsync("http://images.test/grid.png", "task-1", true, CancellationToken.None));
        Assert.Equal(1, requests);

        // A new process (a new service on the same directory) serves it from disk: no download, decode or encode.
        var second = new PreviewService(http, NullLogger<PreviewService>.Instance, null, cache);
        Assert.Equal(made, await second.TryGetAsync("http://images.test/moved/grid.png", "task-1", true, CancellationToken.None));
        Assert.Equal(1, requests);

        // A task id that is not a plain file name is still cached safely inside the directory.
        Assert.NotNull(await second.TryGetAsync("http://images.test/grid.png", "../../etc/passwd", false, CancellationToken.None));
        Assert.All(Directory.EnumerateFiles(cache, "*", SearchOption.AllDirectories), f => Assert.StartsWith(cache, Path.GetFullPath(f), StringComparison.Ordinal));
        Assert.Equal(2, Directory.EnumerateFiles(cache, "*.jpg", SearchOption.AllDirectories).Count());
    }

    [Fact]
    public async Task AfterARestartTheTaskItsPreviewAndItsUrlsStillWork()
    {
        var dataDir = Paths.TempDir("preview-restart");
        string id, gridUrl;
        byte[] before;
        await using (var first = await ServerProcess.StartAsync(null, dataDir))
        {
            var imagine = await first.CallAsync("imagine", new JsonObject { ["prompt"] = "a harbour at night" });
            Assert.False(imagine.IsError == true, ServerProcess.Text(imagine));
            var task = imagine.StructuredContent!.Value;
            id = task.GetProperty("task_id").GetString()!;
            gridUrl = task.GetProperty("grid_image_url").GetString()!;
            Assert.Equal((2048, 2048), PngCodec.ReadSize(await Get(gridUrl))); // the real size: 1024-px candidates

            var inline = Assert.Single(imagine.Content.OfType<ImageContentBlock>());
            Assert.Equal("image/jpeg", inline.MimeType);
            Assert.True(inline.DecodedData.Length <= 60 * 1024, $"{inline.DecodedData.Length} bytes inline");
            var image = PngCodec.Decode(inline.DecodedData.Span);
            Assert.True(Math.Max(image.Width, image.Height) <= 512);
            before = inline.DecodedData.ToArray();
        }

        await using var second = await ServerProcess.StartAsync(null, dataDir);
        var read = await second.Client.ReadResourceAsync($"mj://tasks/{id}");
        using var json = JsonDocument.Parse(Assert.IsType<TextResourceContents>(Assert.Single(read.Contents)).Text);
        Assert.Equal(gridUrl, json.RootElement.GetProperty("grid_image_url").GetString()); // the sandbox kept its port
        foreach (var image in json.RootElement.GetProperty("images").EnumerateArray())
        {
            Assert.Equal((1024, 1024), PngCodec.ReadSize(await Get(image.GetProperty("url").GetString()!)));
        }

        var preview = await second.Client.ReadResourceAsync($"mj://tasks/{id}/preview.png");
        var blob = Assert.IsType<BlobResourceContents>(Assert.Single(preview.Contents));
        Assert.Equal("image/jpeg", blob.MimeType);
        Assert.Equal(before, blob.DecodedData.ToArray()); // the same preview, from the data directory's cache
    }

    [Fact]
    public async Task WhenTheSandboxPortIsTakenAfterARestartTheTaskIsReadAgainForUrlsThatAnswer()
    {
        var dataDir = Paths.TempDir("preview-moved");
        string id, oldUrl;
        await using (var first = await ServerProcess.StartAsync(null, dataDir))
        {
            var grid = await first.OkAsync("imagine", new JsonObject { ["prompt"] = "a moving harbour" });
            id = grid.GetProperty("task_id").GetString()!;
            oldUrl = grid.GetProperty("grid_image_url").GetString()!;
        }

        // Someone else listens on the sandbox's port now.
        var port = new Uri(oldUrl).Port;
        Assert.Equal(port.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(dataDir, "sandbox.port")).Trim());
        var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
        squatter.Start();
        try
        {
            await using var second = await ServerProcess.StartAsync(null, dataDir);
            var read = await second.Client.ReadResourceAsync($"mj://tasks/{id}");
            using var json = JsonDocument.Parse(Assert.IsType<TextResourceContents>(Assert.Single(read.Contents)).Text);
            var fresh = json.RootElement.GetProperty("grid_image_url").GetString()!;
            Assert.NotEqual(port, new Uri(fresh).Port);
            Assert.Equal(new Uri(oldUrl).AbsolutePath, new Uri(fresh).AbsolutePath);
            Assert.Equal((2048, 2048), PngCodec.ReadSize(await Get(fresh)));
            var preview = await second.Client.ReadResourceAsync($"mj://tasks/{id}/preview.png");
            Assert.Equal("image/jpeg", Assert.IsType<BlobResourceContents>(Assert.Single(preview.Contents)).MimeType);
        }
        finally
        {
            squatter.Stop();
        }
    }


    private static async Task<byte[]> Get(string url)
    {
        using var http = new HttpClient();
        return await http.GetByteArrayAsync(new Uri(url));
    }

    /// <summary>The mean luma of the middle of one glyph cell (a 1-px border left out: JPEG blurs edges).</summary>
    private static double CellLuma(RgbaImage image, BadgeLayout badge, int column, int row)
    {
        var sum = 0.0;
        var n = 0;
        for (var y = 1; y < badge.Scale - 1; y++)
        {
            for (var x = 1; x < badge.Scale - 1; x++)
            {
                sum += Luma(image, badge.DigitX + (column * badge.Scale) + x, badge.DigitY + (row * badge.Scale) + y);
                n++;
            }
        }

        return sum / n;
    }

    private static double Luma(RgbaImage image, int x, int y)
    {
        var i = ((y * image.Width) + x) * 4;
        return (0.299 * image.Pixels[i]) + (0.587 * image.Pixels[i + 1]) + (0.114 * image.Pixels[i + 2]);
    }

    private sealed class CountingHandler(byte[] body, Action counted, bool announceLength = true) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            counted();
            HttpContent content = announceLength ? new ByteArrayContent(body) : new StreamContent(new Unannounced(body));
            return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = content });
        }
    }

    /// <summary>A body whose length is not known in advance (not seekable: sent without Content-Length, as chunked).</summary>
    private sealed class Unannounced(byte[] body) : MemoryStream(body, writable: false)
    {
        public override bool CanSeek => false;
    }
}
