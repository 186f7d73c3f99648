using System.CommandLine;
using MjMcp.Cli;
using MjMcp.Sandbox;

// mjmcp            — the MCP stdio server (embedded sandbox unless MJMCP_API_KEY is set)
// mjmcp settings   — the settings in effect, checked
// mjmcp sandbox    — the standalone sandbox HTTP server
// mjmcp demo "…"   — watch the whole workflow run through the MCP tools
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
    prompt, output, flags.DataDir, flags.SandboxTiming,
};
demoCommand.SetAction((parse, ct) => Demo.RunAsync(parse.GetValue(prompt)!, parse.GetValue(output) ?? "mjmcp-demo", parse.GetValue(flags.DataDir), parse.GetValue(flags.SandboxTiming), ct));
root.Subcommands.Add(demoCommand);

var parsed = root.Parse(args);
return await CommandLineErrors.ReportAsync(parsed, "mjmcp", Console.Error).ConfigureAwait(false) ?? await parsed.InvokeAsync().ConfigureAwait(false);
