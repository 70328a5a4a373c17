using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// The one issuer of Neotoma's tokens: opaque 256-bit strings, stored only as SHA-256 hashes, bound to
/// this server's MCP resource. A client's grant gets an access and a refresh token; a personal token
/// is an access token alone.
/// </summary>
public sealed class TokenIssuer(OAuthServerOptions options, TimeProvider timeProvider)
{
    /// <summary>
    /// Issues an access and a refresh token of <paramref name="familyId"/> for a connection whose row the
    /// caller's transaction has locked. A refresh narrows the access token's scope only; the refresh token
    /// keeps <paramref name="refreshScope"/> (what the person approved).
    /// </summary>
    public async Task<TokenEndpointResponse> IssuePairAsync(NpgsqlTransaction transaction, string familyId, string connectionId, string clientId,
        string userId, string scope, string resource, CancellationToken cancellationToken, string? refreshScope = null)
    {
        var now = timeProvider.GetUtcNow();
        var access = OpaqueToken.New(32);
        var refresh = OpaqueToken.New(32);
        await GrantStore.InsertPairAsync(transaction,
            new NewToken(OpaqueToken.Hash(access), NewToken.Access, familyId, connectionId, clientId, userId, scope, resource, now, now + options.AccessTokenLifetime),
            new NewToken(OpaqueToken.Hash(refresh), NewToken.Refresh, familyId, connectionId, clientId, userId, refreshScope ?? scope, resource, now,
                now + options.RefreshTokenLifetime),
            cancellationToken);
        await ClientStore.TouchAsync(transaction, clientId, now, cancellationToken);
        return new TokenEndpointResponse(access, "Bearer", (int)options.AccessTokenLifetime.TotalSeconds, refresh, scope);
    }

    /// <summary>
    /// An access token alone, no refresh token, for a grant the client repeats instead of refreshing (an
    /// enterprise IdP's ID-JAG): it lives <paramref name="lifetime"/>, never longer than any access token.
    /// </summary>
    public async Task<TokenEndpointResponse> IssueAccessOnlyAsync(NpgsqlTransaction transaction, string connectionId, string clientId, string userId,
        string scope, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var capped = lifetime < options.AccessTokenLifetime ? lifetime : options.AccessTokenLifetime;
        var access = OpaqueToken.New(32);
        await GrantStore.InsertAsync(transaction, new NewToken(OpaqueToken.Hash(access), NewToken.Access, connectionId, connectionId, clientId, userId, scope,
            options.Resource, now, now + capped), cancellationToken);
        await ClientStore.TouchAsync(transaction, clientId, now, cancellationToken);
        return new TokenEndpointResponse(access, "Bearer", (int)capped.TotalSeconds, null, scope);
    }

    /// <summary>An access token alone for a personal connection the caller's transaction just made; the token, shown once.</summary>
    public async Task<string> IssuePersonalAsync(
        NpgsqlTransaction transaction, string connectionId, string clientId, string userId, string scope, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var token = OpaqueToken.New(32);
        await GrantStore.InsertAsync(transaction, new NewToken(OpaqueToken.Hash(token), NewToken.Access, connectionId, connectionId, clientId, userId, scope,
            options.Resource, timeProvider.GetUtcNow(), expiresAt), cancellationToken);
        return token;
    }
}
