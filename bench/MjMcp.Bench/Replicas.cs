using System.Text;

namespace MjMcp.Bench;

/// <summary>
/// Section f: 1 against 3 replicas over Streamable HTTP on one PostgreSQL journal. The measurement is the test
/// HttpReplicaTests.AHundredWorkflowsOverStreamableHttpOnThreeReplicasAllSucceed (it starts PostgreSQL, the provider and
/// the replicas, and drives 100 workflows through the TypeScript SDK client on each); bench/run.sh runs it and hands its
/// printed figures here, so the bench and the test measure the very same thing.
/// </summary>
internal static class Replicas
{
    public static void Write(StringBuilder md, string? figuresFile)
    {
        md.AppendLine("## f. Replicas over Streamable HTTP: 1 against 3 on one PostgreSQL journal");
        md.AppendLine();
        var line = figuresFile is not null && File.Exists(figuresFile)
            ? File.ReadLines(figuresFile).FirstOrDefault(l => l.Contains("HTTP replicas", StringComparison.Ordinal))
            : null;
        if (line is null)
        {
            md.AppendLine("Not measured in this run (PostgreSQL or Node.js missing, or the test failed: see the runner's output).");
            md.AppendLine();
            return;
        }

        md.AppendLine("`HttpReplicaTests` (run by bench/run.sh): 100 concurrent imagine → upscale_1x → pan workflows through the TypeScript SDK's Streamable HTTP client, spread round-robin over `mjmcp serve --http` replicas that share one throw-away PostgreSQL journal and one standalone sandbox provider (64-px images, jobs of 0.2 s queued + 1.5 s running, the default 12 submits at once per replica). The test asserts 0 failures and one provider job per tool call; the figures are printed, never asserted.");
        md.AppendLine();
        var text = line[(line.IndexOf("):", StringComparison.Ordinal) + 2)..].Trim();
        foreach (var part in text.Split("; ", StringSplitOptions.RemoveEmptyEntries))
        {
            md.AppendLine("- " + part);
        }

        md.AppendLine();
    }
}
