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
    public required string Issuer { get; init; }

    public UpstreamPreset Preset { get; init; } = UpstreamPreset.Oidc;

    /// <summary>Null: register dynamically at the provider, once per deployment.</summary>
    public string? ClientId { get; init; }

    public string? ClientSecret { get; init; }

    public required string Scopes { get; init; }

    /// <summary>Where the provider sends the browser back: Neotoma's callback endpoint.</summary>
    public required string RedirectUri { get; init; }

    public static string DefaultScopes(UpstreamPreset preset) => preset switch
    {
        UpstreamPreset.Supabase => "openid email profile",
        _ => "openid email profile offline_access",
    };

    /// <summary>http is tolerated only for a provider on this machine (the dev provider).</summary>
    public bool RequireHttps => !(Uri.TryCreate(Issuer, UriKind.Absolute, out var uri)
        && (uri.IsLoopback || (System.Net.IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && System.Net.IPAddress.IsLoopback(address))));
}
