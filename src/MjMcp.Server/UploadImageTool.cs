using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

// MCP roots are marked deprecated as of spec 2026-07-28 (SEP-2577) in ModelContextProtocol 2.4, but they are still the
// only way a client tells a server which of its folders it may read; the path form of upload_image relies on them.
#pragma warning disable MCP9005

namespace MjMcp.Server;

/// <summary>Registered by <c>WithStdioTransport()</c>: the client is the local process that started the server.</summary>
internal sealed class StdioTransportMarker;

/// <summary>
/// The built-in <c>upload_image</c> tool (only when the spec declares <c>provider.upload</c>): sends the agent's own
/// PNG/JPEG to the provider's upload endpoint and returns its URL, valid as an image URL of describe, blend and faceswap.
/// The image comes as base64 (any transport) or as a file path (stdio only, and only inside one of the client's roots).
/// </summary>
internal static class UploadImageTool
{
    public const string Name = "upload_image";

    private const string RootsFix = "send image_base64 instead, or add the folder as a root";

    public const string InputSchema = """{"type":"object","properties":{"image_base64":{"type":"string","minLength":1,"description":"The image (PNG or JPEG, at most 20 MB) as base64, or as a data: URL (data:image/png;base64,...). Give this or path, not both."},"path":{"type":"string","minLength":1,"description":"An absolute path to a PNG or JPEG file (at most 20 MB) inside one of the client's MCP roots. Only over stdio. Give this or image_base64, not both."},"file_name":{"type":"string","minLength":1,"maxLength":255,"description":"The file name sent with the image (default: the path's name, or image.png / image.jpg)."}},"additionalProperties":false}""";

    /// <summary>What upload_image answers: the uploaded image's URL, or (refused) the error. Nothing is required, so both validate.</summary>
    public const string OutputSchema = """{"type":"object","properties":{"image_url":{"type":"string","format":"uri","description":"The uploaded image's URL: image_url of describe, one of the image_urls of blend, target_image_url or swap_image_url of faceswap."},"error":{"type":"object","properties":{"code":{"type":"string"},"message":{"type":"string"},"fix":{"type":"object"}}}}}""";

    public static SpecTool Create() => new(
        Name,
        "Upload an image",
        "Upload your own image (PNG or JPEG, at most 20 MB) to the provider and get its URL, valid as image_url of describe, as one of the image_urls of blend, and as target_image_url or swap_image_url of faceswap. " +
        "Give exactly one of image_base64 (base64 or a data: URL) or path (a file inside one of your MCP roots; stdio only). Costs no credit.",
        InputSchema,
        readOnly: false,
        idempotent: false,
        openWorld: true,
        InvokeAsync,
        OutputSchema);

    private static async ValueTask<CallToolResult> InvokeAsync(RequestContext<CallToolRequestParams> request, CancellationToken cancellationToken)
    {
        var services = request.Services ?? throw new InvalidOperationException("The MCP request carries no service provider.");
        var client = services.GetRequiredService<MjClient>();
        var args = request.Params?.Arguments ?? new Dictionary<string, JsonElement>();
        var base64 = Text(args, "image_base64");
        var path = Text(args, "path");
        var fileName = Text(args, "file_name");
        if ((base64 is null) == (path is null))
        {
            return Refuse(RefusalCodes.InvalidArgument, "upload_image needs exactly one of 'image_base64' (the image as base64 or a data: URL) or 'path' (a file inside one of your MCP roots).", null);
        }

        byte[] bytes;
        string defaultName;
        if (base64 is not null)
        {
            if (Decode(base64) is not { } decoded)
            {
                return Refuse(RefusalCodes.InvalidArgument, "'image_base64' is not valid base64: send the PNG or JPEG bytes as base64, or as a data: URL (data:image/png;base64,...).", null);
            }

            bytes = decoded;
            defaultName = IsJpeg(bytes) ? "image.jpg" : "image.png";
        }
        else
        {
            var (file, refusal) = await CheckPathAsync(request, services, path!, cancellationToken).ConfigureAwait(false);
            if (refusal is not null)
            {
                return refusal;
            }

            try
            {
                bytes = await File.ReadAllBytesAsync(file!, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return Refuse(RefusalCodes.InvalidArgument, $"'path' could not be read ({ex.GetType().Name}). " + char.ToUpperInvariant(RootsFix[0]) + RootsFix[1..] + ".", RootsFixOf());
            }

            defaultName = Path.GetFileName(file!);
        }

        if (bytes.Length == 0)
        {
            return Refuse(RefusalCodes.InvalidArgument, "The image is empty: send a PNG or JPEG.", null);
        }

        if (bytes.Length > MjClient.MaxUploadBytes)
        {
            return Refuse(RefusalCodes.InvalidArgument, "The image is larger than 20 MB: send a smaller PNG or JPEG.", null);
        }

        if (!IsPng(bytes) && !IsJpeg(bytes))
        {
            return Refuse(RefusalCodes.InvalidArgument, "The image is neither a PNG nor a JPEG: convert it and upload again.", null);
        }

        Uri url;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            url = await client.UploadAsync(stream, fileName ?? defaultName, cancellationToken).ConfigureAwait(false);
        }
        catch (MjValidationException ex)
        {
            return Refuse(RefusalCodes.InvalidArgument, ex.Message, null);
        }
        catch (MjException ex)
        {
            return ToolRuntime.ProviderError(Name, ex);
        }

        var structured = JsonSerializer.SerializeToElement(new UploadJson(url.ToString()), ToolJsonContext.Default.UploadJson);
        return new CallToolResult
        {
            Content = [new TextContentBlock { Text = $"Uploaded: {url}\nValid as image_url of describe, as one of the image_urls of blend (2-5 images), and as target_image_url or swap_image_url of faceswap." }],
            StructuredContent = structured,
        };
    }

    /// <summary>The path form: stdio only, an existing file, inside one of the roots the client declares (asked with roots/list).</summary>
    private static async Task<(string? File, CallToolResult? Refusal)> CheckPathAsync(RequestContext<CallToolRequestParams> request, IServiceProvider services, string path, CancellationToken cancellationToken)
    {
        if (services.GetService<StdioTransportMarker>() is null)
        {
            return (null, Refuse(RefusalCodes.PathNotAllowed, "'path' is accepted only over stdio, where the client runs on this machine: send image_base64 instead.", new Fix(Name, new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<object>>(), "send image_base64 instead")));
        }

        if (request.Server.ClientCapabilities?.Roots is null)
        {
            return (null, Refuse(RefusalCodes.NoRoots, $"'path' needs the client to declare MCP roots (folders the server may read), and this client declares none: {RootsFix}.", RootsFixOf()));
        }

        IList<Root> roots;
        try
        {
            var listed = await request.Server.RequestRootsAsync(new ListRootsRequestParams(), cancellationToken).ConfigureAwait(false);
            roots = listed.Roots;
        }
#pragma warning disable CA1031 // Any failure to list the roots is a refusal, never a crash of the tool.
        catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
        {
            return (null, Refuse(RefusalCodes.NoRoots, $"The client did not list its MCP roots ({ex.GetType().Name}): {RootsFix}.", RootsFixOf()));
        }

        if (!Path.IsPathFullyQualified(path))
        {
            return (null, Refuse(RefusalCodes.PathOutsideRoots, $"'path' must be an absolute path inside one of your roots ({Describe(roots)}): {RootsFix}.", RootsFixOf()));
        }

        var full = Path.GetFullPath(path);
        var candidates = new List<string> { full };
        try
        {
            if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target)
            {
                candidates.Add(Path.GetFullPath(target.FullName));
            }
        }
        catch (IOException)
        {
            // Unresolvable link: checked as written, and reading it fails below.
        }

        var folders = roots.Select(r => LocalFolder(r.Uri)).Where(f => f is not null).Select(f => f!).ToList();
        if (folders.Count == 0 || !candidates.All(c => folders.Any(folder => IsInside(c, folder))))
        {
            return (null, Refuse(RefusalCodes.PathOutsideRoots, $"'{full}' is outside every root you declared ({Describe(roots)}): {RootsFix}.", RootsFixOf()));
        }

        if (!File.Exists(full))
        {
            return (null, Refuse(RefusalCodes.InvalidArgument, $"No file at '{full}'. Give the path of an existing PNG or JPEG inside one of your roots, or {RootsFix}.", RootsFixOf()));
        }

        return (full, null);
    }

    private static string? LocalFolder(string uri)
    {
        if (!Uri.TryCreate(uri, UriKind.Absolute, out var parsed) || !parsed.IsFile)
        {
            return null;
        }

        var local = Path.GetFullPath(parsed.LocalPath);
        return Path.EndsInDirectorySeparator(local) ? local : local + Path.DirectorySeparatorChar;
    }

    private static bool IsInside(string file, string folder) =>
        file.StartsWith(folder, OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    private static string Describe(IList<Root> roots) =>
        roots.Count == 0 ? "none" : string.Join(", ", roots.Select(r => r.Uri));

    private static Fix RootsFixOf() => new(Name, new Dictionary<string, string>(), new Dictionary<string, IReadOnlyList<object>>(), RootsFix);

    private static CallToolResult Refuse(string code, string message, Fix? fix) => ToolRuntime.Refuse(code, message, fix);

    private static string? Text(IDictionary<string, JsonElement> args, string name) =>
        args.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString()) ? value.GetString() : null;

    private static byte[]? Decode(string text)
    {
        var data = text.Trim();
        if (data.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            var comma = data.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0 || !data[..comma].EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
            {
                return null;
            }

            data = data[(comma + 1)..];
        }

        var buffer = new byte[(data.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(data, buffer, out var written) ? buffer[..written] : null;
    }

    private static bool IsPng(byte[] b) => b.Length >= 8 && b[0] == 0x89 && b[1] == (byte)'P' && b[2] == (byte)'N' && b[3] == (byte)'G';

    private static bool IsJpeg(byte[] b) => b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}
