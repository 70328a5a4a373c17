namespace Neotoma.Core.Mcp;

public sealed record McpOptions
{
    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Browser origins allowed to call /mcp. Requests without Origin (native clients) are not affected.</summary>
    public required IReadOnlySet<string> AllowedOrigins { get; set; }

    /// <summary>
    /// True when API_BASE is a loopback origin (a developer's machine): every loopback origin may
    /// then call /mcp (the same server as 127.0.0.1 or [::1], a local tool such as the MCP
    /// Inspector's web UI on another port), and a request whose Host is not loopback is refused.
    /// </summary>
    public bool LoopbackServer { get; set; }

    /// <summary>
    /// A browser page on another origin (or a DNS-rebinding page posing as localhost) must not
    /// drive /mcp with the user's token; non-browser clients send no Origin.
    /// </summary>
    public bool IsAllowedOrigin(string? origin) =>
        string.IsNullOrEmpty(origin)
        || AllowedOrigins.Contains(origin.TrimEnd('/'))
        || (LoopbackServer && IsLoopbackOrigin(origin));

    /// <summary>
    /// DNS rebinding: a page on attacker.example that resolves to 127.0.0.1 sends Host:
    /// attacker.example and its own (same-origin) Origin. A loopback server answers loopback Hosts only.
    /// </summary>
    public bool IsAllowedHost(string? host) =>
        !LoopbackServer || (!string.IsNullOrEmpty(host) && Uri.TryCreate("http://" + host, UriKind.Absolute, out var uri) && uri.IsLoopback);

    public static bool IsLoopbackOrigin(string origin) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.IsLoopback
        && uri.AbsolutePath == "/" && string.IsNullOrEmpty(uri.Query) && string.IsNullOrEmpty(uri.UserInfo);
}
