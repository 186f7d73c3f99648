// Start-up benchmark: spawn → initialize → tools/list, for mjmcp and for the Node reference MCP server
// (@modelcontextprotocol/server-everything), measured in the same run on the same machine. Prints the
// median of each and their ratio (target: mjmcp NativeAOT ≤ 0.4× the reference). Nothing is asserted.
// Usage: node bench-startup.mjs <mjmcp command> [args...]   e.g. node bench-startup.mjs ../../../publish/mjmcp
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runs = Number(process.env.RUNS ?? 9);
const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error("usage: node bench-startup.mjs <mjmcp command> [args...]");
  process.exit(2);
}

async function once(cmd, cmdArgs, env) {
  const start = process.hrtime.bigint();
  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: cmd, args: cmdArgs, env: { ...process.env, ...env }, stderr: "ignore" }));
  const { tools } = await client.listTools();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  await client.close();
  if (tools.length === 0) throw new Error(`${cmd} listed no tools`);
  return ms;
}

async function median(label, cmd, cmdArgs, env) {
  await once(cmd, cmdArgs, env); // warm the file cache
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await once(cmd, cmdArgs, env));
  times.sort((a, b) => a - b);
  const m = times[Math.floor(times.length / 2)];
  console.log(`${label}: median ${m.toFixed(0)} ms over ${runs} runs (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)})`);
  return m;
}

const reference = await median("server-everything (node)", process.execPath, ["node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"], {});
// A key and an unreachable provider: start-up only, no embedded sandbox to start.
const data = mkdtempSync(join(tmpdir(), "mjmcp-bench-"));
const mjmcp = await median("mjmcp", command, [...args, "--data-dir", data], { MJMCP_API_KEY: "bench", MJMCP_BASE_URL: "http://127.0.0.1:9/" });
console.log(`ratio mjmcp / reference: ${(mjmcp / reference).toFixed(2)} (target ≤ 0.40)`);
