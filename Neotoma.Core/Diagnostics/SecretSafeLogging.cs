using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Diagnostics;

/// <summary>
/// Framework log categories that write request URLs or redirect targets, and with them the query
/// strings that carry authorization codes, upstream codes, states and nonces
/// (<c>Request starting GET /api/mcp/oauth/callback?code=…&amp;state=…</c>, <c>Executing
/// RedirectResult, redirecting to …?code=…</c>, Kestrel's bad-request lines). They are held at
/// Warning whatever the configuration asks, for every logging provider: no secret in any log at any level.
/// </summary>
public static class SecretSafeLogging
{
    public static readonly IReadOnlyList<string> UrlLoggingCategories =
    [
        "Microsoft.AspNetCore.Hosting.Diagnostics",
        "Microsoft.AspNetCore.Mvc.Infrastructure",
        "Microsoft.AspNetCore.Http.Result",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    /// <summary>Applied after configuration is bound (PostConfigure), so no setting can lower it.</summary>
    public static void Apply(LoggerFilterOptions options)
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
