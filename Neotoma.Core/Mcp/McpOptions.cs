namespace Neotoma.Core.Mcp;

public sealed record McpOptions
{
    public int MaxBodyBytes { get; init; } = 1024 * 1024;

    /// <summary>Browser origins allowed to call /mcp. Requests without Origin (native clients) are not affected.</summary>
    public required IReadOnlySet<string> AllowedOrigins { get; init; }

    /// <summary>
    /// A browser page on another origin (or a DNS-rebinding page posing as localhost) must not
    /// drive /mcp with the user's token; non-browser clients send no Origin.
    /// </summary>
    public bool IsAllowedOrigin(string? origin) =>
        string.IsNullOrEmpty(origin) || AllowedOrigins.Contains(origin.TrimEnd('/'));
}
