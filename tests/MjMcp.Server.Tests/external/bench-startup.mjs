// Start-up benchmark: spawn → initialize → tools/list, for mjmcp (one or more builds) and for the Node reference MCP
// server (@modelcontextprotocol/server-everything), measured in the same run on the same machine, interleaved (one run
// of each in turn, the order rotating every round). Prints the median, min and max of each and its ratio to the
// reference (target: mjmcp NativeAOT ≤ 0.3×). Nothing is asserted.
// mjmcp runs in its default mode: no API key, so it has an embedded sandbox to start (once tools/list is answered);
// --key gives it a key and an unreachable provider instead (no sandbox).
// Usage: node bench-startup.mjs [--json out.json] [--key] <mjmcp command> [args...]
//        node bench-startup.mjs [--json out.json] --as NativeAOT ../../../publish/mjmcp --as JIT dotnet …/mjmcp.dll
// RUNS (default 9) sets the measured rounds; a warm-up round (file cache) comes first.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { join } from "node:path";

const runs = Number(process.env.RUNS ?? 9);
const argv = process.argv.slice(2);
let json = null;
let keyMode = false;
while (argv[0] === "--json" || argv[0] === "--key") {
  if (argv[0] === "--json") { json = argv[1]; argv.splice(0, 2); } else { keyMode = true; argv.shift(); }
}
const variants = [];
if (argv[0] === "--as") {
  for (const arg of argv) {
    if (arg === "--as") variants.push({ label: null, command: null, args: [] });
    else if (variants.at(-1).label === null) variants.at(-1).label = arg;
    else if (variants.at(-1).command === null) variants.at(-1).command = arg;
    else variants.at(-1).args.push(arg);
  }
} else if (argv.length > 0) {
  variants.push({ label: "mjmcp", command: argv[0], args: argv.slice(1) });
}
if (variants.length === 0 || variants.some(v => !v.command)) {
  console.error("usage: node bench-startup.mjs [--json out.json] [--key] <mjmcp command> [args...]  |  --as <label> <command> [args...] ...");
  process.exit(2);
}

const mjmcpEnv = keyMode ? { MJMCP_API_KEY: "bench", MJMCP_BASE_URL: "http://127.0.0.1:9/" } : { MJMCP_API_KEY: "" };
const all = [
  { label: "server-everything (node)", command: process.execPath, args: ["node_modules/@modelcontextprotocol/server-everything/dist/index.js", "stdio"], env: {}, reference: true },
  ...variants.map(v => ({ ...v, args: [...v.args, "--data-dir", mkdtempSync(join(tmpdir(), "mjmcp-bench-"))], env: mjmcpEnv })),
];

// CPU time the server process used so far, in ms: unlike the wall time it hardly depends on what else the machine runs.
// The run time of its threads (/proc/PID/task/*/schedstat, nanoseconds); user + system time from /proc/PID/stat counts
// in 10 ms ticks, too coarse for a process that answers in a few tens of ms (it read 20 ms for 30-35 ms of run time).
// Threads that already ended are not counted (none of mjmcp's, before tools/list is answered).
function cpuMs(pid) {
  try {
    let ns = 0;
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // the thread ended meanwhile
      }
    }
    return ns / 1e6;
  } catch {
    return NaN;
  }
}

async function once(v) {
  const start = process.hrtime.bigint();
  const client = new Client({ name: "bench", version: "1.0.0" });
  const transport = new StdioClientTransport({ command: v.command, args: v.args, env: { ...process.env, ...v.env }, stderr: "ignore" });
  await client.connect(transport);
  // When the tools/list answer arrived, before the client validates it and compiles a validator (Ajv) for each tool's
  // outputSchema: the server's share of the wait.
  let answered = NaN;
  const deliver = transport.onmessage;
  transport.onmessage = (message, extra) => {
    if (Number.isNaN(answered) && Array.isArray(message?.result?.tools)) answered = Number(process.hrtime.bigint() - start) / 1e6;
    deliver?.(message, extra);
  };
  const { tools } = await client.listTools();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = cpuMs(transport.pid);
  await client.close();
  if (tools.length === 0) throw new Error(`${v.label} listed no tools`);
  return { ms, cpu, answered };
}

const loadBefore = loadavg();
for (const v of all) { v.times = []; v.cpu = []; v.answered = []; await once(v); } // warm the file cache
for (let i = 0; i < runs; i++) {
  for (let j = 0; j < all.length; j++) {
    const v = all[(i + j) % all.length];
    const { ms, cpu, answered } = await once(v);
    v.times.push(ms);
    v.cpu.push(cpu);
    v.answered.push(answered);
  }
}
const loadAfter = loadavg();

const results = all.map(v => {
  const t = [...v.times].sort((a, b) => a - b);
  const c = [...v.cpu].sort((a, b) => a - b);
  const a = [...v.answered].sort((x, y) => x - y);
  return { label: v.label, reference: !!v.reference, median: t[Math.floor(t.length / 2)], min: t[0], max: t[t.length - 1], runs: t.length, cpuMedian: c[Math.floor(c.length / 2)], answeredMedian: a[Math.floor(a.length / 2)] };
});
const ref = results.find(r => r.reference);
for (const r of results) {
  r.ratio = r.median / ref.median;
  r.cpuRatio = r.cpuMedian / ref.cpuMedian;
  r.answeredRatio = r.answeredMedian / ref.answeredMedian;
  console.log(`${r.label}: median ${r.median.toFixed(0)} ms over ${r.runs} runs (min ${r.min.toFixed(0)}, max ${r.max.toFixed(0)}), answered at ${r.answeredMedian.toFixed(0)} ms, CPU ${r.cpuMedian.toFixed(1)} ms${r.reference ? "" : `; ratio to the reference ${r.ratio.toFixed(2)} (target ≤ 0.30 for NativeAOT), CPU ratio ${r.cpuRatio.toFixed(2)}`}`);
}
console.log(`mode: ${keyMode ? "with a key (no sandbox)" : "default, no key (embedded sandbox)"}; load average before ${loadBefore[0].toFixed(2)}, after ${loadAfter[0].toFixed(2)}`);
if (json) writeFileSync(json, JSON.stringify({ mode: keyMode ? "key" : "no-key", runs, loadBefore: loadBefore[0], loadAfter: loadAfter[0], results }, null, 2));
