using Neotoma.Core.Configuration;

namespace Neotoma.Core.OAuth;

public sealed record OAuthServerOptions
{
    /// <summary>The public base URL, exactly as clients reach it, without a trailing slash: the issuer.</summary>
    public required string Issuer { get; set; }

    /// <summary>The MCP endpoint users give their clients; tokens are bound to it (RFC 8707).</summary>
    public string Resource => Issuer + "/mcp";

    /// <summary>
    /// The MCP URL, or this server's origin: the root protected-resource document names the origin
    /// (RFC 9728 §3.3, for clients that fall back to it), and /mcp is the only resource the origin
    /// protects, so a token asked for either is bound to <see cref="Resource"/>.
    /// </summary>
    public bool IsOurResource(string resource) =>
        resource.TrimEnd('/') is var trimmed && (string.Equals(trimmed, Resource, StringComparison.Ordinal) || string.Equals(trimmed, Issuer, StringComparison.Ordinal));

    /// <summary>Whether clients reach Neotoma over https: cookies are then Secure and pages ask for HSTS.</summary>
    public bool IsHttps => Issuer.StartsWith("https://", StringComparison.Ordinal);

    public string ProtectedResourceMetadataUrl => Issuer + "/.well-known/oauth-protected-resource/mcp";

    public string AuthorizationEndpoint => Issuer + "/api/mcp/oauth/authorize";

    public string InitiateEndpoint => Issuer + "/api/mcp/oauth/initiate";

    public string CallbackEndpoint => Issuer + "/api/mcp/oauth/callback";

    public string TokenEndpoint => Issuer + "/api/mcp/oauth/token";

    public string RegistrationEndpoint => Issuer + "/api/mcp/oauth/register";

    public string RevocationEndpoint => Issuer + "/api/mcp/oauth/revoke";

    public TimeSpan StateLifetime { get; set; } = TimeSpan.FromMinutes(10);

    public TimeSpan CodeLifetime { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    public TimeSpan RefreshTokenLifetime { get; set; } = TimeSpan.FromDays(30);

    /// <summary>
    /// Most a personal access token lives (PERSONAL_TOKEN_MAX_DAYS, default 90 days). It binds tokens
    /// already issued too: one made for longer is refused from this long after it was made.
    /// </summary>
    public TimeSpan PersonalTokenMaxLifetime { get; set; } = TimeSpan.FromDays(90);

    /// <summary>How long each instance remembers a validated access token (ACCESS_TOKEN_CACHE_SECONDS, default 5 s; zero: no cache).</summary>
    public TimeSpan AccessTokenCacheLifetime { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a just-rotated refresh token may be presented again without revoking its family.</summary>
    public TimeSpan RefreshReuseGrace { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The upstream access token is refreshed when it expires within this margin.</summary>
    public TimeSpan UpstreamRefreshMargin { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>API_BASE must be an origin: discovery is served at the root, so an issuer with a path could not be discovered (RFC 8414 §3).</summary>
    public static string NormalizeApiBase(string baseUrl, string settingName)
    {
        var issuer = NormalizeIssuer(baseUrl, settingName);
        return new Uri(issuer).AbsolutePath is "/" or ""
            ? issuer
            : throw new NeotomaConfigurationException(settingName,
                $"{settingName} must be an origin without a path (e.g. https://neotoma.example.com); got '{baseUrl}'. Serve Neotoma at the root of its host.");
    }

    /// <summary>The issuer API_BASE gives, or null when it is missing or malformed (its validator says so).</summary>
    public static string? IssuerOrNull(string? apiBase)
    {
        try
        {
            return string.IsNullOrWhiteSpace(apiBase) ? null : NormalizeApiBase(apiBase, SettingNames.ApiBase);
        }
        catch (NeotomaConfigurationException)
        {
            return null;
        }
    }

    /// <summary>An absolute http(s) URL without query or fragment and without trailing slash, or the setting's error.</summary>
    public static string NormalizeIssuer(string baseUrl, string settingName) => Settings.HttpUrl(baseUrl, settingName);
}
