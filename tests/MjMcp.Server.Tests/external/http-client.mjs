// The official TypeScript MCP SDK client over Streamable HTTP (StreamableHTTPClientTransport) against `mjmcp serve --http`.
// Usage:
//   node http-client.mjs ownership <url>      TOKEN_A, TOKEN_B: A runs imagine → upscale_1x; B tries A's tasks
//   node http-client.mjs workflows <url> <n>  TOKEN: n concurrent imagine → upscale_1x workflows, one session each
// Prints one JSON line of findings on stdout (every answer's text is kept, so a test can look for secrets in it).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [mode, url, count] = process.argv.slice(2);

async function connect(token, name) {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} },
  });
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(transport);
  return client;
}

function summary(result) {
  const s = result.structuredContent ?? {};
  return {
    isError: !!result.isError,
    code: s.error?.code ?? null,
    task_id: s.task_id ?? null,
    stage: s.stage ?? null,
    state: s.state ?? null,
    text: (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n"),
  };
}

async function call(client, name, args, progress) {
  const result = await client.callTool({ name, arguments: args }, undefined, {
    onprogress: progress ? () => { progress.count++; } : undefined,
    timeout: 120000,
  });
  return summary(result);
}

async function read(client, uri) {
  try {
    const result = await client.readResource({ uri });
    return { ok: true, text: JSON.stringify(result) };
  } catch (e) {
    return { ok: false, code: e.code ?? null, text: String(e.message ?? e) };
  }
}

const listed = (r) => [...r.text.matchAll(/^(\S+)\s/gm)].map((m) => m[1]);

if (mode === "ownership") {
  const findings = {};
  const a = await connect(process.env.TOKEN_A, "client-a");
  const b = await connect(process.env.TOKEN_B, "client-b");
  findings.tools = (await a.listTools()).tools.map((t) => t.name);
  const progress = { count: 0 };
  const grid = await call(a, "imagine", { prompt: "a lighthouse at dusk" }, progress);
  const up = await call(a, "upscale_1x", { parent_task_id: grid.task_id, index: 2 }, progress);
  findings.a = { grid, up, progress: progress.count, list: await call(a, "list_tasks", {}), read: await read(a, `mj://tasks/${grid.task_id}`), account: await call(a, "account", {}) };
  findings.b = {
    fetch: await call(b, "fetch_task", { task_id: grid.task_id }),
    wait: await call(b, "wait_task", { task_id: grid.task_id, wait_seconds: 1 }),
    upscale: await call(b, "upscale_1x", { parent_task_id: grid.task_id, index: 1 }),
    read: await read(b, `mj://tasks/${grid.task_id}`),
    preview: await read(b, `mj://tasks/${up.task_id}/preview.png`),
    children: await call(b, "list_tasks", { parent_task_id: grid.task_id }),
    unknownFetch: await call(b, "fetch_task", { task_id: "00000000-0000-4000-8000-000000000000" }),
    unknownRead: await read(b, "mj://tasks/00000000-0000-4000-8000-000000000000"),
  };
  findings.b.own = await call(b, "imagine", { prompt: "a fox in snow" });
  findings.b.list = await call(b, "list_tasks", {});
  findings.a.listAfter = await call(a, "list_tasks", {});
  findings.listedByA = listed(findings.a.listAfter);
  findings.listedByB = listed(findings.b.list);
  await a.close();
  await b.close();
  console.log(JSON.stringify(findings));
} else if (mode === "workflows") {
  const n = Number(count ?? "20");
  const failures = [];
  let progress = 0;
  const started = Date.now();
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    try {
      const client = await connect(process.env.TOKEN, `workflow-${i}`);
      const p = { count: 0 };
      const grid = await call(client, "imagine", { prompt: `workflow ${i}: a lighthouse` }, p);
      if (grid.isError || grid.state !== "finished") throw new Error(`imagine: ${grid.text}`);
      const up = await call(client, "upscale_1x", { parent_task_id: grid.task_id, index: 1 + (i % 4) }, p);
      if (up.isError || up.stage !== "upscaled" || up.state !== "finished") throw new Error(`upscale_1x: ${up.text}`);
      progress += p.count;
      await client.close();
    } catch (e) {
      failures.push(`${i}: ${e.message ?? e}`);
    }
  }));
  console.log(JSON.stringify({ workflows: n, failures, progress, seconds: (Date.now() - started) / 1000 }));
} else {
  console.error("usage: node http-client.mjs ownership|workflows <url> [n]");
  process.exit(2);
}
