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
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
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
    ClientAssertions clientAssertions,
    AuditLog audit,
    TimeProvider timeProvider,
    ILogger<TokenService> logger)
{
    public async Task<TokenEndpointResponse> ExchangeAsync(IEnumerable<KeyValuePair<string, StringValues>> form, string? clientIp, CancellationToken cancellationToken)
    {
        var p = OAuthParameters.SingleValued(form);
        // A client that proves itself with an assertion may leave client_id out (RFC 7523 §3): the assertion names it.
        if ((await clientAssertions.AuthenticateAsync(p, cancellationToken)).ClientId is { } clientId)
        {
            p["client_id"] = clientId;
        }

        return p.GetValueOrDefault("grant_type") switch
        {
            "authorization_code" => await RedeemCodeAsync(p, cancellationToken),
            "refresh_token" => await RefreshAsync(p, clientIp, cancellationToken),
            null or "" => throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "grant_type is required."),
            _ => throw new OAuthException(OAuthErrorCode.OAUTH_UNSUPPORTED_GRANT_TYPE, "grant_type must be authorization_code or refresh_token."),
        };
    }

    /// <summary>The outcome of a transaction that commits either way: tokens, or the error to answer with.</summary>
    private sealed record Outcome(TokenEndpointResponse? Tokens, OAuthException? Error, string? Audit = null)
    {
        public static Outcome Fail(OAuthErrorCode code, string description, string? audit = null) => new(null, new OAuthException(code, description), audit);

        public TokenEndpointResponse Unwrap() => Error is null ? Tokens! : throw Error;
    }

    private sealed record CodeRow(string ClientId, string RedirectUri, string Challenge, string Scope, string Resource,
        DateTimeOffset ExpiresAt, bool AlreadyUsed);

    private async Task<TokenEndpointResponse> RedeemCodeAsync(Dictionary<string, string> p, CancellationToken cancellationToken)
    {
        var code = OAuthParameters.Required(p, "code");
        var clientId = OAuthParameters.Required(p, "client_id");
        var verifier = OAuthParameters.Required(p, "code_verifier");
        var codeHash = OpaqueToken.Hash(code);
        var unknown = new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code is unknown.");
        var connectionId = await FindConnectionAsync("SELECT connection_id FROM mcp_oauth_codes WHERE code_hash = @hash", codeHash, cancellationToken)
            ?? throw unknown;

        var outcome = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            // The browser sign-in that made the connection (a Continue), if any, before the connection: the order
            // in which ending that sign-in locks them, so the two wait for each other instead of deadlocking.
            await BrowserSignIns.ShareOfConnectionAsync(connection, transaction, connectionId, cancellationToken);
            var signIn = await TokenRevocation.LockConnectionAsync(connection, transaction, connectionId, cancellationToken);
            // Single use: under the connection's lock, exactly one caller sees used_at IS NULL. The
            // code is spent by any attempt, failed ones included, so a verifier cannot be guessed twice.
            CodeRow? row;
            await using (var consume = new NpgsqlCommand("""
                WITH previous AS (SELECT code_hash, used_at FROM mcp_oauth_codes WHERE code_hash = @hash)
                UPDATE mcp_oauth_codes c SET used_at = coalesce(c.used_at, @now)
                FROM previous WHERE c.code_hash = previous.code_hash
                RETURNING c.client_id, c.redirect_uri, c.code_challenge, c.scope, c.resource, c.expires_at, previous.used_at IS NOT NULL
                """, connection, transaction))
            {
                consume.Parameters.AddWithValue("hash", codeHash);
                consume.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
                await using var reader = await consume.ExecuteReaderAsync(cancellationToken);
                row = await reader.ReadAsync(cancellationToken)
                    ? new CodeRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.GetFieldValue<DateTimeOffset>(5), reader.GetBoolean(6))
                    : null;
            }

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
            return new Outcome(await IssueAsync(connection, transaction, codeHash, connectionId, row.ClientId, signIn.UserId, row.Scope, row.Resource,
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
        await using (var queue = new NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", connection, transaction))
        {
            queue.Parameters.AddWithValue("key", $"neotoma-grant\n{userId}\n{clientId}");
            await queue.ExecuteNonQueryAsync(cancellationToken);
        }

        // A connection made by Continue holds no provider tokens. When it replaces one that does, it takes
        // them over (and is bounded by the provider from then on, not by the browser sign-in that made it),
        // so a Continue never trades a provider-backed connection for a shorter-lived one.
        await using (var inherit = new NpgsqlCommand("""
            WITH earlier AS (
                SELECT connection_id, refresh_token, upstream_access_token, upstream_access_token_expires_at FROM mcp_oauth_connections
                WHERE user_id = @user AND client_id = @client AND revoked_at IS NULL AND NOT pending AND connection_id <> @id
                  AND refresh_token IS NOT NULL
                ORDER BY created_at DESC LIMIT 1 FOR UPDATE),
            taken AS (
                UPDATE mcp_oauth_connections n
                SET refresh_token = earlier.refresh_token, upstream_access_token = earlier.upstream_access_token,
                    upstream_access_token_expires_at = earlier.upstream_access_token_expires_at, sign_in_id = NULL
                FROM earlier
                WHERE n.connection_id = @id AND n.refresh_token IS NULL AND n.upstream_access_token IS NULL
                RETURNING earlier.connection_id)
            UPDATE mcp_oauth_connections e SET refresh_token = NULL, upstream_access_token = NULL, upstream_access_token_expires_at = NULL
            FROM taken WHERE e.connection_id = taken.connection_id
            """, connection, transaction))
        {
            inherit.Parameters.AddWithValue("user", userId);
            inherit.Parameters.AddWithValue("client", clientId);
            inherit.Parameters.AddWithValue("id", connectionId);
            await inherit.ExecuteNonQueryAsync(cancellationToken);
        }

        await revocation.RevokeConnectionsAsync(connection, transaction,
            "user_id = @user AND client_id = @client AND NOT pending AND connection_id <> @id",
            new Dictionary<string, object> { ["user"] = userId, ["client"] = clientId, ["id"] = connectionId },
            RevocationReason.Replaced, cancellationToken);

        await using var activate = new NpgsqlCommand("UPDATE mcp_oauth_connections SET pending = false WHERE connection_id = @id", connection, transaction);
        activate.Parameters.AddWithValue("id", connectionId);
        await activate.ExecuteNonQueryAsync(cancellationToken);
    }

    private OAuthException? CheckRedemption(CodeRow row, Dictionary<string, string> p, string clientId, string verifier, bool connectionRevoked)
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

        if (!Pkce.Verify(verifier, row.Challenge))
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

    private sealed record RefreshRow(string FamilyId, string ClientId, string UserId, string Scope, string Resource);

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
        var connectionId = await FindConnectionAsync(
            "SELECT coalesce(connection_id, '') FROM mcp_oauth_tokens WHERE token_hash = @hash AND kind = 'refresh' AND client_id = @client",
            hash, cancellationToken, clientId) ?? throw invalid;
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
            var row = await ConsumeRefreshAsync(connection, transaction, hash, now, cancellationToken);
            if (row is null)
            {
                if (!await WasUsedAsync(connection, transaction, hash, cancellationToken))
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
                await upstreamSession.RefreshIfDueAsync(connection, transaction, connectionId, cancellationToken);
            }
            catch (OAuthException e) when (e.Code == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED)
            {
                // Terminal: the provider no longer accepts this sign-in. (A provider that does not
                // answer throws OAUTH_UPSTREAM_UNAVAILABLE instead, which rolls all of this back.)
                await revocation.RevokeConnectionAsync(connection, transaction, connectionId, RevocationReason.ProviderRefused, cancellationToken);
                return new Outcome(null, e, AuditEvents.TokenRefreshFailed);
            }

            return new Outcome(await IssueAsync(connection, transaction, row.FamilyId, connectionId, row.ClientId, row.UserId, accessScope, row.Resource,
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

    /// <summary>
    /// Spends a refresh token. If it was rotated moments ago, the client probably lost our response
    /// (a dropped connection, a crashed process): it may redeem it once more within the grace
    /// window, and no more. Null when the token is not usable either way.
    /// </summary>
    private async Task<RefreshRow?> ConsumeRefreshAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string hash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var consume = new NpgsqlCommand("""
            UPDATE mcp_oauth_tokens SET used_at = @now
            WHERE token_hash = @hash AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
            RETURNING family_id, client_id, user_id, scope, resource;
            """, connection, transaction);
        await using var grace = new NpgsqlCommand("""
            UPDATE mcp_oauth_tokens SET revoked_at = @now
            WHERE token_hash = @hash AND kind = 'refresh' AND used_at > @graceStart AND revoked_at IS NULL AND expires_at > @now
            RETURNING family_id, client_id, user_id, scope, resource
            """, connection, transaction);
        foreach (var command in new[] { consume, grace })
        {
            command.Parameters.AddWithValue("hash", hash);
            command.Parameters.AddWithValue("now", now);
            command.Parameters.AddWithValue("graceStart", now - options.RefreshReuseGrace);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                return new RefreshRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4));
            }
        }

        return null;
    }

    private static async Task<bool> WasUsedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string hash, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT used_at IS NOT NULL FROM mcp_oauth_tokens WHERE token_hash = @hash", connection, transaction);
        command.Parameters.AddWithValue("hash", hash);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>The connection a code or token belongs to, read without a lock (its transaction then locks the connection first).</summary>
    private Task<string?> FindConnectionAsync(string sql, string hash, CancellationToken cancellationToken, string? clientId = null) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("hash", hash);
            if (clientId is not null)
            {
                command.Parameters.AddWithValue("client", clientId);
            }

            return await command.ExecuteScalarAsync(cancellationToken) as string;
        }, cancellationToken);

    private async Task<TokenEndpointResponse> IssueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string familyId, string connectionId,
        string clientId, string userId, string scope, string resource, CancellationToken cancellationToken, string? refreshScope = null)
    {
        var now = timeProvider.GetUtcNow();
        var access = OpaqueToken.New(32);
        var refresh = OpaqueToken.New(32);
        await using var insert = new NpgsqlCommand("""
            INSERT INTO mcp_oauth_tokens (token_hash, kind, family_id, connection_id, client_id, user_id, scope, resource, created_at, expires_at)
            VALUES (@accessHash, 'access', @family, @connection, @client, @user, @scope, @resource, @now, @accessExpires),
                   (@refreshHash, 'refresh', @family, @connection, @client, @user, @refreshScope, @resource, @now, @refreshExpires);
            UPDATE mcp_oauth_connections SET last_used_at = @now WHERE connection_id = @connection;
            UPDATE mcp_oauth_clients SET last_used_at = @now WHERE client_id = @client;
            """, connection, transaction);
        insert.Parameters.AddWithValue("accessHash", OpaqueToken.Hash(access));
        insert.Parameters.AddWithValue("refreshHash", OpaqueToken.Hash(refresh));
        insert.Parameters.AddWithValue("family", familyId);
        insert.Parameters.AddWithValue("connection", connectionId);
        insert.Parameters.AddWithValue("client", clientId);
        insert.Parameters.AddWithValue("user", userId);
        insert.Parameters.AddWithValue("scope", scope);
        insert.Parameters.AddWithValue("refreshScope", refreshScope ?? scope);
        insert.Parameters.AddWithValue("resource", resource);
        insert.Parameters.AddWithValue("now", now);
        insert.Parameters.AddWithValue("accessExpires", now.Add(options.AccessTokenLifetime));
        insert.Parameters.AddWithValue("refreshExpires", now.Add(options.RefreshTokenLifetime));
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return new TokenEndpointResponse(access, "Bearer", (int)options.AccessTokenLifetime.TotalSeconds, refresh, scope);
    }
}
