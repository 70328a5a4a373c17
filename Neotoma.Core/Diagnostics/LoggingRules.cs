using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Diagnostics;

/// <summary>
/// The logging rules of every host (self-host, Functions worker; host.json repeats the defaults
/// for the Functions host itself, and a test keeps the two equal).
/// <list type="bullet">
/// <item>Defaults: the framework's per-request lines (hosting, routing, MVC result executors, the MCP
/// SDK, outgoing HTTP) at Warning, Neotoma's own lines (audit, cleanup, start-up) at Information. A
/// request would otherwise write several Information lines, which cost about two thirds of /mcp's
/// throughput and are billed as Application Insights traces. Configuration overrides them by
/// category (<c>Logging__LogLevel__Microsoft.AspNetCore=Information</c>).</item>
/// <item>Caps: the categories that write request URLs and redirect targets, and with them the query
/// strings that carry authorization codes, upstream codes, states and nonces, stay at Warning
/// whatever the configuration asks, for every provider: no secret in any log at any level.</item>
/// </list>
/// </summary>
public static class LoggingRules
{
    public static readonly IReadOnlyDictionary<string, LogLevel> Defaults = new Dictionary<string, LogLevel>
    {
        ["Microsoft.AspNetCore"] = LogLevel.Warning,
        ["Microsoft.Extensions.Http"] = LogLevel.Warning,
        ["System.Net.Http"] = LogLevel.Warning,
        ["ModelContextProtocol"] = LogLevel.Warning,
        ["Neotoma"] = LogLevel.Information,
    };

    public static readonly IReadOnlyList<string> UrlLoggingCategories =
    [
        "Microsoft.AspNetCore.Hosting.Diagnostics",
        "Microsoft.AspNetCore.Mvc.Infrastructure",
        "Microsoft.AspNetCore.Http.Result",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    /// <summary>Runs after the configuration's own rules are in (Configure order): a category the configuration names keeps its level.</summary>
    public static void ApplyDefaults(LoggerFilterOptions options)
    {
        foreach (var (category, level) in Defaults)
        {
            if (!options.Rules.Any(r => r.ProviderName is null && string.Equals(r.CategoryName, category, StringComparison.OrdinalIgnoreCase)))
            {
                options.Rules.Add(new LoggerFilterRule(null, category, level, null));
            }
        }
    }

    /// <summary>Applied after configuration is bound (PostConfigure), so no setting can lower it.</summary>
    public static void ApplyCaps(LoggerFilterOptions options)
    {
        // The most specific rule wins, and a provider's own rules beat generic ones: so every
        // existing rule under these categories is raised, and each provider gets its own cap.
        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            if (rule.CategoryName is { } category && UrlLoggingCategories.Any(c => category.StartsWith(c, StringComparison.OrdinalIgnoreCase))
                && (rule.LogLevel is null || rule.LogLevel < LogLevel.Warning))
            {
                options.Rules[i] = new LoggerFilterRule(rule.ProviderName, category, LogLevel.Warning, rule.Filter);
            }
        }

        foreach (var provider in options.Rules.Select(r => r.ProviderName).Append(null).Distinct().ToArray())
        {
            foreach (var category in UrlLoggingCategories)
            {
                if (!options.Rules.Any(r => r.ProviderName == provider && string.Equals(r.CategoryName, category, StringComparison.OrdinalIgnoreCase)))
                {
                    options.Rules.Add(new LoggerFilterRule(provider, category, LogLevel.Warning, null));
                }
            }
        }
    }
}
