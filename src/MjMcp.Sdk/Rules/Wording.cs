namespace MjMcp.Rules;

/// <summary>Small helpers for the messages people and agents read.</summary>
public static class Wording
{
    /// <summary>"a grid", "an upscaled", "a grid or an upscaled".</summary>
    public static string A(IEnumerable<string> nouns) => string.Join(" or ", nouns.Select(A));

    /// <summary>"a grid", "an upscaled".</summary>
    public static string A(string noun)
    {
        ArgumentNullException.ThrowIfNull(noun);
        return (noun.Length > 0 && "aeiouAEIOU".Contains(noun[0], StringComparison.Ordinal) ? "an " : "a ") + noun;
    }
}
