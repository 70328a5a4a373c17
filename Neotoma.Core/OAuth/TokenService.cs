using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>What the token endpoint answers (RFC 6749 §5.1).</summary>
public sealed record TokenEndpointResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("refresh_token"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RefreshToken,
    [property: JsonPropertyName("scope")] string Scope);

/// <summary>
/// The token endpoint: authorization_code with PKCE, and refresh_token with rotation. Tokens are
/// opaque 256-bit strings stored only as SHA-256 hashes. Every grant first locks its connection's
/// row (see <see cref="TokenRevocation"/>), so redemptions, refreshes and revocations of one sign-in
/// queue in one order; a replayed code or a reused refresh token revokes the sign-in through
/// <see cref="TokenRevocation"/>, and tokens issued at the same moment die with it.
/// </summary>
public sealed class TokenService(
    NeotomaDatabase database,
    OAuthServerOptions options,
    UpstreamSessionRefresher upstreamSession,
    TokenRevocation revocation,
    TokenIssuer issuer,
    ClientAssertions clientAssertions,
    ClientSecrets clientSecrets,
    IdJagGrant idJag,
    AuditLog audit,
    TimeProvider timeProvider,
    ILogger<TokenService> logger)
{
    /// <param name="authorization">The request's Authorization header, for client_secret_basic.</param>
    public async Task<TokenEndpointResponse> ExchangeAsync(
        IEnumerable<KeyValuePair<string, StringValues>> form, string? clientIp, CancellationToken cancellationToken, string? authorization = null)
    {
        var p = OAuthParameters.SingleValued(form);
        // A client that proves itself with an assertion may leave client_id out (RFC 7523 §3): the assertion names it;
        // one with client_secret_basic names itself in the Authorization header.
        var client = await clientSecrets.AuthenticateAsync(p, authorization, cancellationToken) ?? await clientAssertions.AuthenticateAsync(p, cancellationToken);
        if (client.ClientId is { } clientId)
        {
            p["client_id"] = clientId;
        }

        return p.GetValueOrDefault("grant_type") switch
        {
            "authorization_code" => await RedeemCodeAsync(p, cancellationToken),
            "refresh_token" => await RefreshAsync(p, clientIp, cancellationToken),
            IdJagGrant.GrantType => await idJag.ExchangeAsync(p, client, clientIp, cancellationToken),
            null or "" => throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "grant_type is required."),
            _ => throw new OAuthException(OAuthErrorCode.OAUTH_UNSUPPORTED_GRANT_TYPE,
                $"grant_type must be authorization_code, refresh_token or {IdJagGrant.GrantType}."),
        };
    }

    /// <summary>The outcome of a transaction that commits either way: tokens, or the error to answer with.</summary>
    private sealed record Outcome(TokenEndpointResponse? Tokens, OAuthException? Error, string? Audit = null)
    {
        public static Outcome Fail(OAuthErrorCode code, string description, string? audit = null) => new(null, new OAuthException(code, description), audit);

        public TokenEndpointResponse Unwrap() => Error is null ? Tokens! : throw Error;
    }

    private async Task<TokenEndpointResponse> RedeemCodeAsync(Dictionary<string, string> p, CancellationToken cancellationToken)
    {
        var code = OAuthParameters.Required(p, "code");
        var clientId = OAuthParameters.Required(p, "client_id");
        var verifier = OAuthParameters.Required(p, "code_verifier");
        var codeHash = OpaqueToken.Hash(code);
        var unknown = new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code is unknown.");
        var connectionId = await CodeStore.ConnectionOfAsync(database, codeHash, cancellationToken) ?? throw unknown;

        var outcome = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            // The browser sign-in that made the connection (a Continue), if any, before the connection: the order
            // in which ending that sign-in locks them, so the two wait for each other instead of deadlocking.
            await BrowserSignInStore.ShareOfConnectionAsync(transaction, connectionId, cancellationToken);
            var signIn = await TokenRevocation.LockConnectionAsync(connection, transaction, connectionId, cancellationToken);
            // Single use: under the connection's lock, exactly one caller sees the code unspent. The
            // code is spent by any attempt, failed ones included, so a verifier cannot be guessed twice.
            var row = await CodeStore.SpendAsync(transaction, codeHash, timeProvider.GetUtcNow(), cancellationToken);
            if (row is null || signIn is null)
            {
                return new Outcome(null, unknown);
            }

            if (row.AlreadyUsed)
            {
                // RFC 6749 §4.1.2: a replayed code revokes every token issued from it.
                await revocation.RevokeConnectionAsync(connection, transaction, connectionId, RevocationReason.CodeReplayed, cancellationToken);
                return Outcome.Fail(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code was already used; the tokens issued from it are revoked.");
            }

            if (CheckRedemption(row, p, clientId, verifier, signIn.Revoked) is { } refusal)
            {
                return new Outcome(null, refusal);
            }

            await ReplaceEarlierConnectionsAsync(connection, transaction, connectionId, signIn.UserId, row.ClientId, cancellationToken);
            return new Outcome(await issuer.IssuePairAsync(transaction, codeHash, connectionId, row.ClientId, signIn.UserId, row.Scope, row.Resource,
                cancellationToken), null);
        }, cancellationToken);
        return outcome.Unwrap();
    }

    /// <summary>
    /// A redeemed code makes its connection the person's one live connection of that client: the
    /// earlier one is revoked now, not when the code was issued (a code nobody redeems disconnects
    /// nothing). Redemptions for one person and client queue on a transaction-scoped advisory lock, taken
    /// after the connection's own lock (and its sign-in's share) and before the earlier connection's, so
    /// two of them cannot both keep theirs; refreshes and revocations lock one connection only, and ending
    /// a sign-in locks it before its connections, so no cycle can form.
    /// </summary>
    private async Task ReplaceEarlierConnectionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, string userId, string clientId, CancellationToken cancellationToken)
    {
        await GrantStore.QueueRedemptionAsync(transaction, userId, clientId, cancellationToken);
        await GrantStore.InheritUpstreamAsync(transaction, userId, clientId, connectionId, cancellationToken);
        var replaced = await GrantStore.LockReplacedAsync(transaction, userId, clientId, connectionId, cancellationToken);
        await revocation.RevokeConnectionsAsync(connection, transaction, replaced, RevocationReason.Replaced, cancellationToken);
        await GrantStore.ActivateAsync(transaction, connectionId, cancellationToken);
    }

    private OAuthException? CheckRedemption(SpentCode row, Dictionary<string, string> p, string clientId, string verifier, bool connectionRevoked)
    {
        if (row.ExpiresAt <= timeProvider.GetUtcNow())
        {
            return new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code expired; sign in again.");
        }

        if (row.ClientId != clientId)
        {
            return new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code was issued to another client.");
        }

        if (p.TryGetValue("redirect_uri", out var redirectUri) && redirectUri != row.RedirectUri)
        {
            return new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "redirect_uri does not match the one of the authorization request.");
        }

        if (!Pkce.Verify(verifier, row.CodeChallenge))
        {
            return new OAuthException(OAuthErrorCode.OAUTH_PKCE_FAILED,
                "PKCE validation failed: code_verifier does not match the code_challenge. The code is spent; sign in again.");
        }

        if (p.TryGetValue("resource", out var resource) && !options.IsOurResource(resource))
        {
            return new OAuthException(OAuthErrorCode.OAUTH_INVALID_TARGET, $"resource must be {options.Resource}.");
        }

        return connectionRevoked
            ? new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, "This connection was revoked; sign in again.")
            : null;
    }

    private async Task<TokenEndpointResponse> RefreshAsync(Dictionary<string, string> p, string? clientIp, CancellationToken cancellationToken)
    {
        var refreshToken = OAuthParameters.Required(p, "refresh_token");
        var clientId = OAuthParameters.Required(p, "client_id");
        var narrowTo = p.GetValueOrDefault("scope") is { Length: > 0 } requested ? requested : null;
        if (NeotomaScopes.Unknown(narrowTo).Any())
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_SCOPE, $"Unknown scope; supported: {string.Join(" ", NeotomaScopes.Supported)}.");
        }

        var hash = OpaqueToken.Hash(refreshToken);
        var invalid = new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The refresh token is invalid, expired, revoked or was already used.");
        var gone = new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND,
            "The connection behind this token was revoked or deleted. Remove and re-add Neotoma in your MCP client to sign in again.");
        var connectionId = await GrantStore.ConnectionOfRefreshTokenAsync(database, hash, clientId, cancellationToken) ?? throw invalid;
        if (connectionId.Length == 0)
        {
            throw gone;
        }

        string? userId = null;
        var outcome = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            var signIn = await TokenRevocation.LockConnectionAsync(connection, transaction, connectionId, cancellationToken);
            if (signIn is null || signIn.Revoked)
            {
                return new Outcome(null, gone);
            }

            userId = signIn.UserId;
            var now = timeProvider.GetUtcNow();
            var row = await GrantStore.SpendRefreshTokenAsync(transaction, hash, now, now - options.RefreshReuseGrace, cancellationToken);
            if (row is null)
            {
                if (!await GrantStore.WasUsedAsync(transaction, hash, cancellationToken))
                {
                    return new Outcome(null, invalid);
                }

                // Reused outside its grace window: treated as theft. Commit the revocation even though
                // the request fails; that is the point of it.
                await revocation.RevokeConnectionAsync(connection, transaction, connectionId, RevocationReason.RefreshTokenReused, cancellationToken);
                OAuthLog.RefreshReuse(logger, connectionId);
                return Outcome.Fail(OAuthErrorCode.OAUTH_INVALID_GRANT,
                    "This refresh token was already used; every token of this sign-in is now revoked. Sign in again.", AuditEvents.ConnectionRevoked);
            }

            // RFC 6749 §6: a refresh may narrow the new access token, never widen it; the refresh
            // token keeps what the person approved. Thrown, so the refresh token is not spent.
            var accessScope = row.Scope;
            if (narrowTo is not null)
            {
                accessScope = NeotomaScopes.IsWithin(narrowTo, row.Scope)
                    ? NeotomaScopes.Normalize(narrowTo)
                    : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_SCOPE,
                        $"A refresh cannot widen access beyond '{row.Scope}'. Authorize again to ask the person for more.");
            }

            try
            {
                await upstreamSession.RefreshIfDueAsync(transaction, connectionId, cancellationToken);
            }
            catch (OAuthException e) when (e.Code == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED)
            {
                // Terminal: the provider no longer accepts this sign-in. (A provider that does not
                // answer throws OAUTH_UPSTREAM_UNAVAILABLE instead, which rolls all of this back.)
                await revocation.RevokeConnectionAsync(connection, transaction, connectionId, RevocationReason.ProviderRefused, cancellationToken);
                return new Outcome(null, e, AuditEvents.TokenRefreshFailed);
            }

            return new Outcome(await issuer.IssuePairAsync(transaction, row.FamilyId, connectionId, row.ClientId, row.UserId, accessScope, row.Resource,
                cancellationToken, refreshScope: row.Scope), null);
        }, cancellationToken);

        await AuditRefreshAsync(outcome, connectionId, userId, clientId, clientIp, cancellationToken);
        return outcome.Unwrap();
    }

    private async Task AuditRefreshAsync(
        Outcome outcome, string connectionId, string? userId, string clientId, string? clientIp, CancellationToken cancellationToken)
    {
        if (outcome.Error is null)
        {
            await audit.WriteAsync(new AuditEntry(AuditEvents.TokenRefreshInitiated, connectionId, userId, clientId, clientIp), cancellationToken);
            return;
        }

        if (outcome.Audit == AuditEvents.TokenRefreshFailed)
        {
            await audit.WriteAsync(new AuditEntry(AuditEvents.TokenRefreshFailed, connectionId, userId, clientId, clientIp, false, outcome.Error.Code), cancellationToken);
        }

        if (outcome.Audit is not null)
        {
            await audit.WriteAsync(new AuditEntry(AuditEvents.ConnectionRevoked, connectionId, userId, clientId, clientIp), cancellationToken);
        }
    }
}
