using System.CommandLine;
using MjMcp.Cli;

// mjmcp            — the MCP stdio server (embedded sandbox unless MJMCP_API_KEY is set)
// mjmcp sandbox    — the standalone sandbox HTTP server
// mjmcp demo "…"   — watch the whole workflow run through the MCP tools
var dataDir = new Option<string?>("--data-dir") { Description = "Journal and sandbox data directory (default: MJMCP_DATA_DIR, else the per-user data folder)." };
var baseUrl = new Option<string?>("--base-url") { Description = "Provider base URL (default: MJMCP_BASE_URL, else the spec's)." };
var waitSeconds = new Option<int?>("--wait-seconds") { Description = "How long a tool waits for its task before returning the task_id (default 40, at most 50)." };
var timing = new Option<string?>("--sandbox-timing") { Description = "Embedded sandbox speed: instant, brisk (default) or realistic." };

var resetJournal = new Option<bool>("--reset-journal") { Description = "Move a damaged journal aside (journal.db.broken-<time>) and start with a fresh one." };

var root = new RootCommand("MjMcp: an MCP server for the Midjourney workflow. With no API key (MJMCP_API_KEY) it runs on an embedded offline sandbox.")
{
    dataDir, baseUrl, waitSeconds, timing, resetJournal,
};
root.SetAction((parse, ct) => Cli.ServeAsync(parse.GetValue(dataDir), parse.GetValue(baseUrl), parse.GetValue(waitSeconds), parse.GetValue(timing), parse.GetValue(resetJournal), ct));

var sandboxCommand = new Command("sandbox", "Run the sandbox provider standalone on loopback (curl-able). Options: --port N, --data-dir D, --api-key K, --realistic, --spec my.yaml (also serve the operations that spec adds).");

// mjmcp reads specs with the generator's own parser (SpecLoader), so `sandbox --spec` serves exactly what a build sees.
MjMcp.Sandbox.SandboxCommand.SpecLoader = MjMcp.Server.SpecLoader.Load;
sandboxCommand.TreatUnmatchedTokensAsErrors = false;
sandboxCommand.SetAction((parse, ct) => MjMcp.Sandbox.SandboxCommand.RunAsync(parse.UnmatchedTokens.ToArray(), ct));
root.Subcommands.Add(sandboxCommand);

var prompt = new Argument<string>("prompt") { Description = "The prompt to imagine.", DefaultValueFactory = _ => "a lighthouse at dusk, oil painting" };
var output = new Option<string>("--out") { Description = "Folder for the PNGs (default ./mjmcp-demo).", DefaultValueFactory = _ => "mjmcp-demo" };
var demoCommand = new Command("demo", "Run imagine → upscale_1x → pan → upscale_1x → upscale_alt through the MCP tools, with progress, and save the PNGs.") { prompt, output, dataDir, timing };
demoCommand.SetAction((parse, ct) => Demo.RunAsync(parse.GetValue(prompt)!, parse.GetValue(output)!, parse.GetValue(dataDir), parse.GetValue(timing), ct));
root.Subcommands.Add(demoCommand);

return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
