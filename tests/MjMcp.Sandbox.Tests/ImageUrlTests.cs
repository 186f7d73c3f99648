using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using MjMcp.Imaging;

namespace MjMcp.Sandbox.Tests;

/// <summary>The sandbox reads only its own images and allowed hosts: it is no port scanner.</summary>
public sealed class ImageUrlTests
{
    [Fact]
    public async Task UrlsToOtherLoopbackPortsAreRefusedWithoutAnyConnectionTaskOrCredit()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var (server, http) = await Wire.StartAsync(new SandboxOptions { CandidateSize = 64 });
            await using var _ = server;
            using var __ = http;
            var grid = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/imagine", new JsonObject { ["prompt"] = "own images" }));
            var own = grid.GetProperty("image_urls")[0].GetString()!;
            var ownPath = new Uri(own).AbsolutePath;
            var before = server.Counters.AcceptedSubmissions;
            var credits = await Wire.CreditsAsync(http);

            // The listener's port with an arbitrary path, with the path of a real image, and as localhost.
            string[] foreign = [$"http://127.0.0.1:{port}/a.png", $"http://127.0.0.1:{port}{ownPath}", $"http://localhost:{port}/x", $"https://127.0.0.1:{port}/"];
            foreach (var url in foreign)
            {
                var cases = new (string Path, JsonObject Body)[]
                {
                    ("/describe", new JsonObject { ["image_url"] = url }),
                    ("/blend", new JsonObject { ["image_urls"] = new JsonArray(own, url) }),
                    ("/blend", new JsonObject { ["image_urls"] = new JsonArray(url, own, own) }),
                    ("/faceswap", new JsonObject { ["target_image_url"] = own, ["swap_image_url"] = url }),
                    ("/faceswap", new JsonObject { ["target_image_url"] = url, ["swap_image_url"] = own }),
                };
                foreach (var (path, body) in cases)
                {
                    var (status, reply) = await Wire.PostAsync(http, path, body);
                    Wire.AssertError(status, reply, HttpStatusCode.BadRequest, "AllowedImageHosts");
                }
            }

            // Its own origin, but no image it stores.
            var (missing, missingReply) = await Wire.PostAsync(http, "/describe", new JsonObject { ["image_url"] = new Uri(server.BaseUrl, "images/nope/1.png").ToString() });
            Wire.AssertError(missing, missingReply, HttpStatusCode.BadRequest, "names no image this sandbox stores");

            Assert.False(listener.Pending(), "the sandbox connected to the listener");
            Assert.Equal(before, server.Counters.AcceptedSubmissions);
            Assert.Equal(credits, await Wire.CreditsAsync(http));

            // Its own images still work, read from storage (no request for an image reaches it).
            var imageRequests = server.Counters.Requests("/images");
            var describe = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/describe", new JsonObject { ["image_url"] = own }));
            Assert.Equal(4, describe.GetProperty("content").GetArrayLength());
            var blend = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/blend", new JsonObject { ["image_urls"] = new JsonArray(own, grid.GetProperty("image_urls")[1].GetString()) }));
            Assert.Equal("finished", blend.GetProperty("status").GetString());
            var swap = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/faceswap", new JsonObject { ["target_image_url"] = own, ["swap_image_url"] = grid.GetProperty("original_image_url").GetString() }));
            Assert.Equal("finished", swap.GetProperty("status").GetString());
            Assert.Equal(imageRequests, server.Counters.Requests("/images"));
            Assert.False(listener.Pending());
        }
        finally
        {
            listener.Stop();
        }
    }

    [Fact]
    public async Task AllowedHostsAreFetchedAndOnlyThem()
    {
        var picture = new RgbaImage(32, 32);
        Array.Fill(picture.Pixels, (byte)200);
        var png = PngCodec.Encode(picture);
        var hits = 0;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var host = builder.Build();
        host.MapGet("/pic.png", () =>
        {
            Interlocked.Increment(ref hits);
            return Results.Bytes(png, "image/png");
        });
        await host.StartAsync();
        var origin = new Uri(host.Urls.First());
        var url = new Uri(origin, "pic.png").ToString();

        var options = new SandboxOptions { CandidateSize = 64 };
        options.AllowedImageHosts.Add($"127.0.0.1:{origin.Port}");
        var (server, http) = await Wire.StartAsync(options);
        await using var _ = server;
        using var __ = http;
        var describe = await Wire.FinishedAsync(http, await Wire.SubmitAsync(http, "/describe", new JsonObject { ["image_url"] = url }));
        Assert.Equal("finished", describe.GetProperty("status").GetString());
        Assert.Equal(1, hits);

        // Another port of the same host is not allowed ("host:port" names one port; "host" alone would allow any).
        var (status, reply) = await Wire.PostAsync(http, "/describe", new JsonObject { ["image_url"] = $"http://127.0.0.1:{(origin.Port == 1 ? 2 : 1)}/pic.png" });
        Wire.AssertError(status, reply, HttpStatusCode.BadRequest, "not allowed");
        Assert.Equal(1, hits);

        var (withCredentials, credentialsReply) = await Wire.PostAsync(http, "/describe", new JsonObject { ["image_url"] = $"http://u:p@127.0.0.1:{origin.Port}/pic.png" });
        Wire.AssertError(withCredentials, credentialsReply, HttpStatusCode.BadRequest, "credentials");
        Assert.Equal(1, hits);
    }
}
