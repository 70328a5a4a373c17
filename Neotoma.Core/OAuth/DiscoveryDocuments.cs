namespace Neotoma.Core.OAuth;

/// <summary>RFC 8414 and RFC 9728 metadata. The issuer appears byte-identically in both.</summary>
public sealed class DiscoveryDocuments(OAuthServerOptions options)
{
    public IReadOnlyDictionary<string, object> AuthorizationServer() => new Dictionary<string, object>
    {
        ["issuer"] = options.Issuer,
        ["authorization_endpoint"] = options.AuthorizationEndpoint,
        ["token_endpoint"] = options.TokenEndpoint,
        ["registration_endpoint"] = options.RegistrationEndpoint,
        ["revocation_endpoint"] = options.RevocationEndpoint,
        ["response_types_supported"] = new[] { "code" },
        ["response_modes_supported"] = new[] { "query" },
        ["grant_types_supported"] = new[] { "authorization_code", "refresh_token" },
        ["code_challenge_methods_supported"] = new[] { "S256" },
        ["token_endpoint_auth_methods_supported"] = new[] { "none" },
        ["revocation_endpoint_auth_methods_supported"] = new[] { "none" },
        ["scopes_supported"] = OAuthServerOptions.ScopesSupported,
        ["authorization_response_iss_parameter_supported"] = true,
        ["client_id_metadata_document_supported"] = false,
    };

    public IReadOnlyDictionary<string, object> ProtectedResource() => new Dictionary<string, object>
    {
        ["resource"] = options.Resource,
        ["authorization_servers"] = new[] { options.Issuer },
        ["scopes_supported"] = OAuthServerOptions.ScopesSupported,
        ["bearer_methods_supported"] = new[] { "header" },
        ["resource_name"] = "Neotoma",
    };
}
