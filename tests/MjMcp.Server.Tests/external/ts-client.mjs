// The official TypeScript MCP SDK client against the mjmcp server: list tools, run imagine → upscale_1x → pan.
// Usage: node ts-client.mjs <command> [args...]   (prints one JSON line of findings on stdout)
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "ignore" });
const client = new Client({ name: "mjmcp-ts-test", version: "1.0.0" });
await client.connect(transport);
const findings = { tools: [], progress: 0, steps: [] };
const { tools } = await client.listTools();
findings.tools = tools.map((t) => t.name);
let parent = null;
for (const [name, extra] of [["imagine", { prompt: "a red fox in snow" }], ["upscale_1x", { index: 3 }], ["pan", { direction: "up" }]]) {
  const args = parent ? { parent_task_id: parent, ...extra } : extra;
  const result = await client.callTool({ name, arguments: args }, undefined, {
    onprogress: () => { findings.progress++; },
    timeout: 120000,
  });
  const structured = result.structuredContent ?? {};
  findings.steps.push({ name, isError: !!result.isError, stage: structured.stage, state: structured.state, task_id: structured.task_id, images: (structured.images ?? []).length, next: (structured.next_actions ?? []).map((a) => a.tool) });
  if (result.isError) break;
  parent = structured.task_id;
}
await client.close();
console.log(JSON.stringify(findings));
