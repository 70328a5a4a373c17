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
        ["grant_types_supported"] = new[] { "authorization_code", "refresh_token", IdJagGrant.GrantType },
        // Enterprise-managed authorization (MCP ext-auth): ID-JAGs are accepted with the JWT bearer grant.
        ["authorization_grant_profiles_supported"] = new[] { IdJagGrant.Profile },
        ["code_challenge_methods_supported"] = new[] { "S256" },
        ["token_endpoint_auth_methods_supported"] = EnterpriseClients.TokenEndpointAuthMethods,
        ["token_endpoint_auth_signing_alg_values_supported"] = ClientAssertions.SigningAlgorithms,
        ["revocation_endpoint_auth_methods_supported"] = ClientAssertions.AuthMethods,
        ["revocation_endpoint_auth_signing_alg_values_supported"] = ClientAssertions.SigningAlgorithms,
        ["scopes_supported"] = NeotomaScopes.Supported,
        ["authorization_response_iss_parameter_supported"] = true,
        ["client_id_metadata_document_supported"] = true,
    };

    /// <summary>
    /// The document at /.well-known/oauth-protected-resource/mcp names the MCP URL; the one at the
    /// root names the origin, as RFC 9728 §3.3 asks of the resource its well-known URL was built from
    /// (clients that check it, Gemini CLI among them, refuse anything else).
    /// </summary>
    public IReadOnlyDictionary<string, object> ProtectedResource(bool root = false) => new Dictionary<string, object>
    {
        ["resource"] = root ? options.Issuer : options.Resource,
        ["authorization_servers"] = new[] { options.Issuer },
        ["scopes_supported"] = NeotomaScopes.ResourceScopes,
        ["bearer_methods_supported"] = new[] { "header" },
        ["resource_name"] = "Neotoma",
    };
}
