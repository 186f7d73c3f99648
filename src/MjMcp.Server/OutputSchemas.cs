using System.Text.Json.Nodes;
using MjMcp.Rules;

namespace MjMcp.Server;

/// <summary>
/// The output schema of each tool, derived from what it returns: a spec tool's task of its own operation with its
/// stage (image tasks) or its result's fields (data tasks); list_tasks' listing; account's credits and budgets. Nothing
/// is required, so a refusal (<c>error</c>) validates against every schema. Built with JsonNode: no reflection (AOT).
/// </summary>
public static class OutputSchemas
{
    /// <summary>The output schema shared by every task tool. Nothing is required, so refusals (with "error") validate too.</summary>
    public const string Task = """
        {"type":"object","properties":{
          "task_id":{"type":"string"},
          "operation":{"type":"string","description":"The spec operation that made the task."},
          "status":{"type":"string","description":"The provider's status string."},
          "state":{"type":"string","enum":["unknown","pending","running","retrying","finished","failed"]},
          "percentage":{"type":"integer"},
          "stage":{"type":"string","description":"grid, upscaled, hires or image for image tasks."},
          "result_kind":{"type":"string","description":"seed, prompts or shortened for data tasks."},
          "parent_task_id":{"type":"string"},
          "images":{"type":"array","items":{"type":"object","properties":{"index":{"type":"integer"},"url":{"type":"string"}},"required":["index","url"]}},
          "grid_image_url":{"type":"string"},
          "result":{"type":"object","description":"The fields of a data result (seed, prompts, ...)."},
          "error":{"type":"object","properties":{"code":{"type":"string"},"message":{"type":"string"},"fix":{"type":"object","properties":{"tool":{"type":"string"},"arguments":{"type":"object"},"choices":{"type":"object"},"needs":{"type":"object"},"then":{"type":"string"},"then_calls":{"type":"array","items":{"type":"object"}}}},"budget":{"type":"string","enum":["process","day"],"description":"budget_exceeded: which budget."},"cost":{"type":"integer"},"remaining":{"type":"integer"},"budget_credits":{"type":"integer"},"spent":{"type":"integer"},"setting":{"type":"string"},"resets_at":{"type":"string","format":"date-time"}}},
          "next_actions":{"type":"array","items":{"type":"object","properties":{"tool":{"type":"string"},"arguments":{"type":"object"},"choices":{"type":"object"},"needs":{"type":"object"},"description":{"type":"string"}},"required":["tool","arguments"]}},
          "hint":{"type":"string"},
          "tasks":{"type":"array","items":{"type":"object"}},
          "account":{"type":"object"}
        }}
        """;

    private static readonly string[] ResultOnly = ["result_kind", "result"];
    private static readonly string[] StageOnly = ["stage", "images", "grid_image_url"];
    private static readonly string[] ListingOnly = ["tasks", "uncertain", "account", "budget"];

    /// <summary>The schema of a spec tool: the task its operation makes.</summary>
    public static string ForOperation(SpecRules rules, OperationRule operation)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(operation);
        var schema = TaskSchema();
        var properties = schema["properties"]!.AsObject();
        properties["operation"] = new JsonObject { ["const"] = operation.Name, ["description"] = "The spec operation that made the task." };
        if (operation.ProducesStage && rules.FindStage(operation.Produces) is { } stage)
        {
            properties["stage"] = new JsonObject { ["const"] = stage.Name, ["description"] = stage.Summary };
            properties["images"]!["maxItems"] = stage.Images;
            Remove(properties, ResultOnly);
        }
        else if (rules.FindResult(operation.Produces) is { } result)
        {
            properties["result_kind"] = new JsonObject { ["const"] = result.Name, ["description"] = result.Summary };
            var fields = new JsonObject();
            foreach (var field in result.Fields)
            {
                fields[field.Name] = field.IsList
                    ? new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = field.Summary }
                    : new JsonObject { ["type"] = "string", ["description"] = field.Summary };
            }

            properties["result"] = new JsonObject { ["type"] = "object", ["properties"] = fields, ["description"] = $"The fields of {Wording.A(result.Name)} result." };
            Remove(properties, StageOnly);
        }

        return schema.ToJsonString();
    }

    /// <summary>fetch_task and wait_task: a task of any operation.</summary>
    public static string AnyTask() => TaskSchema().ToJsonString();

    /// <summary>list_tasks: the journal's tasks and the submits whose outcome is unknown.</summary>
    public static string Listing()
    {
        var task = TaskSchema();
        task["properties"]!.AsObject()["created_at"] = new JsonObject { ["type"] = "string", ["format"] = "date-time" };
        var intent = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["intent_id"] = new JsonObject { ["type"] = "string" },
                ["operation"] = new JsonObject { ["type"] = "string" },
                ["parent_task_id"] = new JsonObject { ["type"] = "string" },
                ["arguments"] = new JsonObject { ["type"] = "object", ["description"] = "The submit's arguments (secrets as ***)." },
                ["reason"] = new JsonObject { ["type"] = "string" },
                ["created_at"] = new JsonObject { ["type"] = "string", ["format"] = "date-time" },
                ["advice"] = new JsonObject { ["type"] = "string" },
            },
        };
        return Object(
            ("tasks", new JsonObject { ["type"] = "array", ["items"] = task }),
            ("uncertain", new JsonObject { ["type"] = "array", ["items"] = intent, ["description"] = "Submits that may have created a task at the provider: do not resubmit blindly." }),
            ("error", Error())).ToJsonString();
    }

    /// <summary>account: the provider's account and this server's spending.</summary>
    public static string Account()
    {
        var spend = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["date"] = new JsonObject { ["type"] = "string" },
                ["spent"] = new JsonObject { ["type"] = "integer" },
                ["budget"] = new JsonObject { ["type"] = "integer" },
                ["remaining"] = new JsonObject { ["type"] = "integer" },
            },
        };
        var account = new JsonObject
        {
            ["type"] = "object",
            ["properties"] = new JsonObject
            {
                ["email"] = new JsonObject { ["type"] = "string" },
                ["credits"] = new JsonObject { ["type"] = "integer" },
                ["total_images"] = new JsonObject { ["type"] = "integer" },
                ["plan"] = new JsonObject { ["type"] = "string" },
            },
        };
        return Object(
            ("account", account),
            ("budget", new JsonObject { ["type"] = "object", ["description"] = "Credits this server spent, per process and per UTC day, with what is left of each budget.", ["additionalProperties"] = spend }),
            ("error", Error())).ToJsonString();
    }

    // Task parsed once; each schema gets its own deep copy to change.
    private static readonly JsonObject ParsedTask = JsonNode.Parse(Task)!.AsObject();

    private static JsonObject TaskSchema()
    {
        var schema = ParsedTask.DeepClone().AsObject();
        Remove(schema["properties"]!.AsObject(), ListingOnly);
        return schema;
    }

    private static JsonNode Error() => ParsedTask["properties"]!["error"]!.DeepClone();

    private static JsonObject Object(params (string Name, JsonNode Schema)[] properties)
    {
        var all = new JsonObject();
        foreach (var (name, schema) in properties)
        {
            all[name] = schema;
        }

        return new JsonObject { ["type"] = "object", ["properties"] = all };
    }

    private static void Remove(JsonObject properties, IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            properties.Remove(name);
        }
    }
}
