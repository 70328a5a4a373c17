namespace Neotoma.Core.Upstream;

/// <summary>Which kind of OpenID provider users sign in with; each preset knows its quirks.</summary>
public enum UpstreamPreset
{
    /// <summary>Any OpenID Connect provider.</summary>
    Oidc,

    /// <summary>Microsoft Entra ID: asks for offline_access, never sends both resource and scope.</summary>
    Entra,

    /// <summary>Supabase Auth's OAuth server (issuer https://&lt;project&gt;.supabase.co/auth/v1).</summary>
    Supabase,
}

public sealed record UpstreamOptions
{
    public required string Issuer { get; set; }

    public UpstreamPreset Preset { get; set; } = UpstreamPreset.Oidc;

    /// <summary>Null: register dynamically at the provider, once per deployment.</summary>
    public string? ClientId { get; set; }

    public string? ClientSecret { get; set; }

    public required string Scopes { get; set; }

    /// <summary>
    /// How long a call to the provider may take (OIDC_TIMEOUT_SECONDS, default 5 s): well below an MCP client's own
    /// timeout, so a provider that hangs is answered as 503 OAUTH_UPSTREAM_UNAVAILABLE while the client still waits,
    /// instead of the client giving up and retrying a refresh it thinks failed.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Where the provider sends the browser back: Neotoma's callback endpoint.</summary>
    public required string RedirectUri { get; set; }

    public static string DefaultScopes(UpstreamPreset preset) => preset switch
    {
        UpstreamPreset.Supabase => "openid email profile",
        _ => "openid email profile offline_access",
    };

    /// <summary>http is tolerated only for a provider on this machine (the dev provider).</summary>
    public bool RequireHttps => !(Uri.TryCreate(Issuer, UriKind.Absolute, out var uri)
        && (uri.IsLoopback || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && System.Net.IPAddress.IsLoopback(address))));
}
