using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Neotoma.Core.OAuth;

namespace Neotoma.Core.Mcp;

public sealed record BearerResult(ClaimsPrincipal? Principal, string? Challenge);

/// <summary>
/// /mcp as an OAuth protected resource (RFC 6750, RFC 9728): a missing token is answered
/// with where to find the authorization server; a bad one adds error="invalid_token".
/// </summary>
public sealed class BearerAuthenticator(AccessTokenValidator tokens, OAuthServerOptions options)
{
    public const string ClientIdClaim = "client_id";
    public const string ConnectionIdClaim = "connection_id";
    public const string ScopeClaim = "scope";

    /// <summary>
    /// One principal per grant, made the first time it is seen: the token cache hands back the same
    /// grant for as long as it keeps the token (a revoked token's grant is never handed back again),
    /// and nothing changes a principal once made, so the calls of one token share it instead of
    /// building five claims each.
    /// </summary>
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<AccessGrant, ClaimsPrincipal> principals = new();

    public async Task<BearerResult> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var header = request.Headers.Authorization;
        if (header.Count == 0)
        {
            return new BearerResult(null, Challenge(null));
        }

        var value = header.Count == 1 ? header[0] : null;
        if (value is null || !value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || value.Length <= 7 || value.Length > 1024)
        {
            return new BearerResult(null, Challenge("The Authorization header must be a single 'Bearer <token>'."));
        }

        var grant = await tokens.ValidateAsync(value[7..].Trim(), cancellationToken);
        if (grant is null)
        {
            return new BearerResult(null, Challenge("The access token is invalid, expired or revoked."));
        }

        return new BearerResult(principals.GetValue(grant, PrincipalOf), null);
    }

    /// <summary>The principal the tools see for a grant (the benchmark's identity reference signs its requests in with it too).</summary>
    internal static ClaimsPrincipal PrincipalOf(AccessGrant grant) => new(new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, grant.UserId),
            new Claim("sub", grant.UserId),
            new Claim(ClientIdClaim, grant.ClientId),
            new Claim(ConnectionIdClaim, grant.ConnectionId),
            new Claim(ScopeClaim, grant.Scope),
        ],
        authenticationType: "Bearer", nameType: "sub", roleType: null));

    /// <summary>
    /// The step-up challenge (HTTP 403): the scope asked for is what the token has plus what the call
    /// needs, so a client that replaces its scope with the challenge's keeps what it could already do.
    /// </summary>
    public string InsufficientScope(ScopeShortfall shortfall) =>
        $"Bearer error=\"insufficient_scope\", scope=\"{NeotomaScopes.Union(shortfall.Granted, shortfall.Required)}\", " +
        $"resource_metadata=\"{options.ProtectedResourceMetadataUrl}\", error_description=\"{shortfall.Description}\"";

    private string Challenge(string? invalidTokenDescription)
    {
        var challenge = $"Bearer resource_metadata=\"{options.ProtectedResourceMetadataUrl}\", scope=\"{NeotomaScopes.Default}\"";
        return invalidTokenDescription is null
            ? challenge
            : challenge + $", error=\"invalid_token\", error_description=\"{invalidTokenDescription}\"";
    }
}
