using System.Text.Json;
using System.Text.Json.Nodes;

namespace MjMcp.Server.Tests;

/// <summary>Each tool's output schema says what that tool returns, and what it returns is declared there.</summary>
public sealed class OutputSchemaTests : IClassFixture<SandboxFixture>
{
    private readonly SandboxFixture _fixture;

    public OutputSchemaTests(SandboxFixture fixture) => _fixture = fixture;

    [Fact]
    public async Task EveryToolsSchemaIsItsOwnAndDeclaresEveryFieldItReturns()
    {
        await using var server = await ServerProcess.StartAsync(_fixture.Sandbox);
        var schemas = (await server.Client.ListToolsAsync()).ToDictionary(t => t.Name, t => t.ProtocolTool.OutputSchema!.Value);

        // A stage tool's schema names its operation and stage and has no result; a data tool's names its result's fields.
        var imagine = schemas["imagine"].GetProperty("properties");
        Assert.Equal("imagine", imagine.GetProperty("operation").GetProperty("const").GetString());
        Assert.Equal("grid", imagine.GetProperty("stage").GetProperty("const").GetString());
        Assert.Equal(4, imagine.GetProperty("images").GetProperty("maxItems").GetInt32());
        Assert.False(imagine.TryGetProperty("result", out _));
        Assert.Equal("upscaled", schemas["upscale_1x"].GetProperty("properties").GetProperty("stage").GetProperty("const").GetString());
        var seed = schemas["seed"].GetProperty("properties");
        Assert.Equal("seed", seed.GetProperty("result_kind").GetProperty("const").GetString());
        Assert.False(seed.TryGetProperty("images", out _));
        Assert.NotEmpty(seed.GetProperty("result").GetProperty("properties").EnumerateObject());
        Assert.True(schemas["list_tasks"].GetProperty("properties").TryGetProperty("tasks", out _));
        Assert.True(schemas["account"].GetProperty("properties").TryGetProperty("budget", out _));
        Assert.False(schemas["account"].GetProperty("properties").TryGetProperty("images", out _));

        // What the tools return is declared in their own schema, nested objects included.
        var grid = await server.OkAsync("imagine", new JsonObject { ["prompt"] = "schema check" });
        AssertDeclared(schemas["imagine"], grid, "imagine");
        var gridId = grid.GetProperty("task_id").GetString()!;
        AssertDeclared(schemas["upscale_1x"], await server.OkAsync("upscale_1x", new JsonObject { ["parent_task_id"] = gridId, ["index"] = 2 }), "upscale_1x");
        AssertDeclared(schemas["seed"], await server.OkAsync("seed", new JsonObject { ["task_id"] = gridId }), "seed");
        AssertDeclared(schemas["fetch_task"], await server.OkAsync("fetch_task", new JsonObject { ["task_id"] = gridId }), "fetch_task");
        AssertDeclared(schemas["list_tasks"], await server.OkAsync("list_tasks", []), "list_tasks");
        AssertDeclared(schemas["account"], await server.OkAsync("account", []), "account");
        var refused = await server.CallAsync("pan", new JsonObject { ["parent_task_id"] = gridId, ["direction"] = "left" });
        AssertDeclared(schemas["pan"], refused.StructuredContent!.Value, "pan refusal");
    }

    /// <summary>Every property of <paramref name="value"/> is declared by <paramref name="schema"/> (recursively through objects and arrays).</summary>
    private static void AssertDeclared(JsonElement schema, JsonElement value, string path)
    {
        if (value.ValueKind == JsonValueKind.Object && schema.TryGetProperty("properties", out var properties) && !schema.TryGetProperty("additionalProperties", out _))
        {
            foreach (var property in value.EnumerateObject())
            {
                Assert.True(properties.TryGetProperty(property.Name, out var declared), $"{path}.{property.Name} is returned but not in the tool's output schema");
                if (declared.TryGetProperty("const", out var constant))
                {
                    Assert.Equal(constant.GetString(), property.Value.GetString());
                }

                AssertDeclared(declared, property.Value, path + "." + property.Name);
            }
        }
        else if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            foreach (var item in value.EnumerateArray())
            {
                AssertDeclared(items, item, path + "[]");
            }
        }
    }
}
