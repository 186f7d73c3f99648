using System.CommandLine;
using MjMcp.Server;

namespace MjMcp.Cli;

/// <summary>
/// The command-line flags for <see cref="MjMcpServerOptions"/>, one per setting of <see cref="MjMcpSettings.All"/> (the
/// same table maps the environment and shows the settings). Each is checked while parsing, so a bad value is a one-line
/// error naming the flag; the API key is never a flag value (the process list and shell history would show it).
/// </summary>
internal sealed class SettingsFlags
{
    private readonly (MjMcpSetting Setting, Option<string?> Option)[] _flags = [.. MjMcpSettings.All.Select(s => (s, Flag(s)))];

    /// <summary>Hidden: refuses a key on the command line and says what to do instead.</summary>
    private readonly Option<string?> _apiKey = new("--api-key")
    {
        Hidden = true,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            result.AddError("--api-key: no API key on the command line (the process list and shell history would show it): set MJMCP_API_KEY, or name the variable that holds it with --api-key-env NAME");
            return null;
        },
    };

    /// <summary>The flag of one setting, by property name (for commands that take only some of them).</summary>
    public Option<string?> For(string property) => _flags.Single(f => f.Setting.Property == property).Option;

    public void AddTo(Command command)
    {
        foreach (var (_, option) in _flags)
        {
            command.Options.Add(option);
        }

        command.Options.Add(_apiKey);
    }

    /// <summary>The flags given, to apply over the environment and appsettings.json.</summary>
    public Action<MjMcpServerOptions> Read(ParseResult parse)
    {
        var given = _flags
            .Select(f => (f.Setting, Value: parse.GetValue(f.Option)))
            .Where(f => f.Value is not null)
            .Select(f => (f.Setting, Value: f.Setting.Kind is MjMcpSettingKind.Secret ? Environment.GetEnvironmentVariable(f.Value!)! : f.Value!))
            .ToList();
        return o =>
        {
            foreach (var (setting, value) in given)
            {
                setting.Set(o, value);
            }
        };
    }

    private static Option<string?> Flag(MjMcpSetting setting) => new(setting.Flag)
    {
        Description = setting.Description,
        HelpName = setting.HelpName,
        Arity = ArgumentArity.ZeroOrOne,
        CustomParser = result =>
        {
            var text = result.Tokens.Count == 0 ? string.Empty : result.Tokens[0].Value;
            if (setting.Kind is MjMcpSettingKind.Secret)
            {
                if (text.Length > 0 && Environment.GetEnvironmentVariable(text) is { Length: > 0 })
                {
                    return text;
                }

                result.AddError($"{setting.Flag} {text}: the variable '{text}' is not set or empty; export it with the key first, or drop {setting.Flag} to use {setting.Variable}");
                return null;
            }

            if (text.Length == 0)
            {
                result.AddError($"{setting.Flag} needs a value, e.g. {setting.Flag} {setting.Example}");
                return null;
            }

            if (setting.Problem(text) is { } problem)
            {
                result.AddError($"{setting.Flag} {problem}");
                return null;
            }

            return text;
        },
    };
}
