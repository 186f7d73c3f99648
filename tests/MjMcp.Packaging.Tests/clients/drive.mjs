// The official TypeScript MCP SDK client against a packaged MCP server (the mjmcp tool or a server made
// from the template): list the tools, then run the given steps, each step's parent being the previous result.
// Usage: node drive.mjs '<steps json: [["imagine", {"prompt": "…"}], ["upscale_1x", {"index": 2}], …]>' <command> [args...]
// Prints one JSON line of findings on stdout. Its node_modules is a link to tests/MjMcp.Server.Tests/external's.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [stepsJson, command, ...args] = process.argv.slice(2);
const steps = JSON.parse(stepsJson);
const transport = new StdioClientTransport({ command, args, env: process.env, stderr: "pipe" });
const stderr = [];
transport.stderr?.on("data", (chunk) => {
  stderr.push(String(chunk));
  if (stderr.length > 200) stderr.shift();
});
const client = new Client({ name: "mjmcp-packaging-test", version: "1.0.0" });
const findings = { tools: [], steps: [], stderr: "" };
try {
  await client.connect(transport);
  const { tools } = await client.listTools();
  findings.tools = tools.map((t) => t.name);
  let parent = null;
  for (const [name, extra] of steps) {
    const toolArgs = parent ? { parent_task_id: parent, ...extra } : extra;
    const result = await client.callTool({ name, arguments: toolArgs }, undefined, { timeout: 120000 });
    const structured = result.structuredContent ?? {};
    const text = (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
    findings.steps.push({
      name,
      isError: !!result.isError,
      stage: structured.stage ?? null,
      state: structured.state ?? null,
      task_id: structured.task_id ?? null,
      images: (structured.images ?? []).length,
      next: (structured.next_actions ?? []).map((a) => a.tool),
      text: result.isError ? text : undefined,
    });
    if (result.isError) break;
    parent = structured.task_id;
  }
} catch (error) {
  findings.error = String(error?.stack ?? error);
} finally {
  await client.close().catch(() => {});
  findings.stderr = stderr.join("").slice(-4000);
}
console.log(JSON.stringify(findings));
