using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>What registering an enterprise client gave: its id, and its secret (shown once; only its hash is kept).</summary>
public sealed record RegisteredEnterpriseClient(string ClientId, string ClientName, string Method, string? ClientSecret, string? JwksUri);

/// <summary>
/// Clients the operator registers for enterprise-managed authorization (<c>./neotoma register-enterprise-client</c>),
/// never through an endpoint: confidential, with a client secret (<c>client_secret_basic</c> or
/// <c>client_secret_post</c>, stored as its SHA-256) or <c>private_key_jwt</c> with a <c>jwks_uri</c> (read
/// behind the same fence as metadata documents' keys). They use the JWT bearer grant only.
/// </summary>
public sealed class EnterpriseClients(NeotomaDatabase database, TimeProvider timeProvider, ILogger<EnterpriseClients> logger)
{
    public static readonly string[] Methods = [ClientSecrets.Basic, ClientSecrets.Post, ClientAssertions.PrivateKeyJwt];

    /// <summary>Every way a client may authenticate at the token endpoint, as discovery lists them.</summary>
    public static readonly string[] TokenEndpointAuthMethods = ["none", ClientAssertions.PrivateKeyJwt, ClientSecrets.Basic, ClientSecrets.Post];

    public async Task<RegisteredEnterpriseClient> RegisterAsync(
        string clientName, string method, string? jwksUri, string? clientId, CancellationToken cancellationToken)
    {
        if (!Methods.Contains(method, StringComparer.Ordinal))
        {
            throw Invalid($"--auth must be one of {string.Join(", ", Methods)}; got '{DisplayText.Printable(method)}'");
        }

        if (string.IsNullOrWhiteSpace(clientName) || clientName.Length > 200)
        {
            throw Invalid("--name is required (at most 200 characters): the person sees it on the connections page");
        }

        if (method == ClientAssertions.PrivateKeyJwt)
        {
            if (jwksUri is null || !Uri.TryCreate(jwksUri, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttps
                || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
            {
                throw Invalid("private_key_jwt needs --jwks-uri, an https URL without fragment or credentials, where the client publishes its public keys");
            }
        }
        else if (jwksUri is not null)
        {
            throw Invalid("--jwks-uri goes with --auth private_key_jwt only");
        }

        if (clientId is not null && (clientId.Length is 0 or > 200 || clientId.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))))
        {
            throw Invalid("--client-id must be 1 to 200 printable characters without spaces");
        }

        var id = clientId ?? "ent_" + OpaqueToken.New(16);
        var secret = method == ClientAssertions.PrivateKeyJwt ? null : OpaqueToken.New(32);
        var made = await ClientStore.RegisterEnterpriseAsync(database,
            new NewEnterpriseClient(id, clientName, method, jwksUri, secret is null ? null : OpaqueToken.Hash(secret)), timeProvider.GetUtcNow(), cancellationToken);
        if (!made)
        {
            throw Invalid($"a client with client_id '{DisplayText.Printable(id)}' exists already");
        }

        OAuthLog.EnterpriseClientRegistered(logger, DisplayText.Printable(id), DisplayText.Printable(clientName), method);
        return new RegisteredEnterpriseClient(id, clientName, method, secret, jwksUri);
    }

    private static OAuthException Invalid(string reason) => new(OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA, $"The enterprise client was not registered: {reason}.");
}
