using System.CommandLine;
using MjMcp.Cli;
using MjMcp.Sandbox;
using MjMcp.Server;

// mjmcp            — the MCP stdio server (embedded sandbox unless MJMCP_API_KEY is set)
// mjmcp settings   — the settings in effect, checked
// mjmcp sandbox    — the standalone sandbox HTTP server
// mjmcp demo "…"   — watch the whole workflow run through the MCP tools
// mjmcp serve --http 127.0.0.1:8080 — the same server over Streamable HTTP; mjmcp token new NAME — a client token
// Every command parses with System.CommandLine: --help on each, and bad input is one line on stderr with exit code 2.
var flags = new SettingsFlags();
var resetJournal = new Option<bool>("--reset-journal") { Description = "Move a damaged journal aside (journal.db.broken-<time>) and start with a fresh one." };

var root = new RootCommand("MjMcp: an MCP server (stdio) for the Midjourney workflow. With no API key (MJMCP_API_KEY) it runs on an embedded offline sandbox. Settings: flags win over MJMCP_* variables, which win over the MjMcp section of appsettings.json (next to mjmcp, then in the working directory).");
flags.AddTo(root);
root.Options.Add(resetJournal);
root.SetAction((parse, ct) => Cli.ServeAsync(flags.Read(parse), parse.GetValue(resetJournal), ct));

var settingsCommand = new Command("settings", "Print the settings in effect (flags > MJMCP_* variables > appsettings.json) after checking them; the API key is never shown.");
flags.AddTo(settingsCommand);
settingsCommand.SetAction((parse, _) => Cli.ShowSettingsAsync(flags.Read(parse)));
root.Subcommands.Add(settingsCommand);

// mjmcp reads specs with the generator's own parser (SpecLoader), so `sandbox --spec` serves exactly what a build sees.
SandboxCommand.SpecLoader = MjMcp.Server.SpecLoader.Load;
root.Subcommands.Add(SandboxCommand.Create());

var prompt = new Argument<string>("prompt") { Description = "The prompt to imagine.", DefaultValueFactory = _ => "a lighthouse at dusk, oil painting" };
prompt.Validators.Add(result =>
{
    if (string.IsNullOrWhiteSpace(result.GetValueOrDefault<string>()))
    {
        result.AddError("demo needs a prompt with words in it, e.g. mjmcp demo \"a lighthouse at dusk\" (or no prompt at all for that one)");
    }
});
var output = CommandLineErrors.Text("--out", "Folder for the PNGs (default ./mjmcp-demo).", "DIR", "./mjmcp-demo");
var demoCommand = new Command("demo", "Run imagine → upscale_1x → pan → upscale_1x → upscale_alt through the MCP tools of a real mjmcp process, with progress on stderr (plain lines when stderr is not a terminal), and save the PNGs.")
{
    prompt, output, flags.For(nameof(MjMcpServerOptions.DataDir)), flags.For(nameof(MjMcpServerOptions.SandboxTiming)),
};
demoCommand.SetAction((parse, ct) => Demo.RunAsync(parse.GetValue(prompt)!, parse.GetValue(output) ?? "mjmcp-demo", parse.GetValue(flags.For(nameof(MjMcpServerOptions.DataDir))), parse.GetValue(flags.For(nameof(MjMcpServerOptions.SandboxTiming))), ct));
root.Subcommands.Add(demoCommand);

// mjmcp serve [--http HOST:PORT]: stdio as plain mjmcp, or MCP over Streamable HTTP at http://HOST:PORT/mcp.
var http = new Option<System.Net.IPEndPoint?>("--http")
{
    Description = "Serve MCP over Streamable HTTP at http://HOST:PORT/mcp instead of stdio (plus /healthz and /readyz). HOST: an IP address or localhost; port 0 takes any free one. Client tokens: MJMCP_HTTP_TOKENS (mjmcp token new NAME); required on a non-loopback address.",
    HelpName = "HOST:PORT",
    CustomParser = result =>
    {
        var endpoint = HttpServe.ParseEndpoint(result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value, out var problem);
        if (problem is not null)
        {
            result.AddError(problem);
        }

        return endpoint;
    },
};
var serveReset = new Option<bool>("--reset-journal") { Description = resetJournal.Description };
var serveCommand = new Command("serve", "Serve MCP: over stdio (as plain mjmcp), or with --http over Streamable HTTP for remote or several clients, each with its own bearer token and its own tasks.") { http, serveReset };
flags.AddTo(serveCommand);
serveCommand.SetAction((parse, ct) => parse.GetValue(http) is { } endpoint
    ? HttpServe.ServeAsync(flags.Read(parse), endpoint, parse.GetValue(serveReset), ct)
    : Cli.ServeAsync(flags.Read(parse), parse.GetValue(serveReset), ct));
root.Subcommands.Add(serveCommand);

// mjmcp token new NAME: a client token for serve --http (shown once) and the hash to configure.
var tokenName = new Argument<string>("name") { Description = "The client's name: 1-64 letters, digits, '.', '_' or '-'. Its tasks are its own." };
tokenName.Validators.Add(result =>
{
    if (!MjMcp.Server.Http.MjMcpHttpOptions.IsValidName(result.GetValueOrDefault<string>() ?? string.Empty))
    {
        result.AddError("token new needs a client name of 1-64 letters, digits, '.', '_' or '-', e.g. mjmcp token new laptop");
    }
});
var tokenNew = new Command("new", "Make a random bearer token for one HTTP client: prints the token once, and the setting (MJMCP_HTTP_TOKENS or appsettings.json) with its SHA-256 hash.") { tokenName };
tokenNew.SetAction((parse, _) => HttpServe.NewTokenAsync(parse.GetValue(tokenName)!));
root.Subcommands.Add(new Command("token", "Client tokens for mjmcp serve --http.") { tokenNew });

var parsed = root.Parse(args);
return await CommandLineErrors.ReportAsync(parsed, "mjmcp", Console.Error).ConfigureAwait(false) ?? await parsed.InvokeAsync().ConfigureAwait(false);
