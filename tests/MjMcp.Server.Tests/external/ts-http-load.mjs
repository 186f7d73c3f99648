// Many concurrent workflows (imagine → upscale_1x → pan) over MCP Streamable HTTP, spread round-robin over one or more
// mjmcp replicas, through the official TypeScript SDK client. Each tool waits its default bound; a task still running
// then is awaited with wait_task, and a wait whose replica died is taken up on the next replica (a submit is never
// resent: its task may exist).
// Usage: node ts-http-load.mjs --urls http://127.0.0.1:8081/mcp,http://127.0.0.1:8082/mcp --token T --workflows 100
// Prints one JSON line: { ok, failed, errors, waits, failovers, calls, p50_ms, p95_ms, wall_ms }.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const options = Object.fromEntries(process.argv.slice(2).reduce((pairs, arg, i, all) => (arg.startsWith("--") ? [...pairs, [arg.slice(2), all[i + 1]]] : pairs), []));
const urls = (options.urls ?? "").split(",").filter(Boolean);
const token = options.token ?? "";
const workflows = Number(options.workflows ?? 10);
if (urls.length === 0) {
  console.error("usage: node ts-http-load.mjs --urls URL[,URL…] --token TOKEN --workflows N");
  process.exit(2);
}

const latencies = [];
const stats = { ok: 0, failed: 0, errors: [], waits: 0, failovers: 0, calls: 0 };

async function connect(index) {
  const url = urls[index % urls.length];
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
  const client = new Client({ name: "mjmcp-http-load", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

// One workflow: its own session on replica (n mod replicas); on a transport failure it moves to the next replica.
async function workflow(n) {
  let replica = n;
  let client = await connect(replica);
  const call = async (name, args) => {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      try {
        stats.calls++;
        const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 120000 });
        latencies.push(performance.now() - started);
        return result;
      } catch (error) {
        // Only waits are retried elsewhere: a submit whose answer was lost is never resent (it may have been created).
        if (name !== "wait_task" || attempt >= urls.length * 3) throw error;
        stats.failovers++;
        try { await client.close(); } catch { /* the replica is gone */ }
        replica++;
        client = await connect(replica);
      }
    }
  };

  let parent = null;
  try {
    for (const [name, extra] of [["imagine", { prompt: `load ${n}` }], ["upscale_1x", { index: 1 + (n % 4) }], ["pan", { direction: "up" }]]) {
      const submitted = await call(name, { ...(parent ? { parent_task_id: parent } : {}), ...extra });
      let result = submitted.structuredContent ?? {};
      if (submitted.isError || !result.task_id) throw new Error(`${name}: ${JSON.stringify(submitted.content?.[0]?.text ?? result).slice(0, 300)}`);
      while (result.state !== "finished") {
        stats.waits++;
        const waited = await call("wait_task", { task_id: result.task_id });
        result = waited.structuredContent ?? {};
        if (waited.isError) throw new Error(`wait_task ${result.task_id}: ${JSON.stringify(waited.content?.[0]?.text ?? result).slice(0, 300)}`);
      }
      parent = result.task_id;
    }
    stats.ok++;
  } catch (error) {
    stats.failed++;
    if (stats.errors.length < 10) stats.errors.push(String(error?.message ?? error));
  } finally {
    try { await client.close(); } catch { /* closed already */ }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: workflows }, (_, n) => workflow(n)));
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length ? Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]) : 0);
console.log(JSON.stringify({ ...stats, p50_ms: at(0.5), p95_ms: at(0.95), wall_ms: Math.round(performance.now() - started) }));
