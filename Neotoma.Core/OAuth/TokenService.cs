using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

public sealed record TokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("token_type")] string TokenType,
    [property: JsonPropertyName("expires_in")] int ExpiresIn,
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
    [property: JsonPropertyName("scope")] string Scope);

/// <summary>Who an access token speaks for: the only source of the user id that MCP tools see.</summary>
public sealed record AccessGrant(string UserId, string ClientId, string ConnectionId, string Scope, string Resource);

/// <summary>
/// The token endpoint (authorization_code with PKCE, refresh_token with rotation), revocation,
/// and access-token validation for /mcp. Tokens are opaque 256-bit strings stored only as
/// SHA-256 hashes; a family is every token descended from one authorization code.
/// </summary>
public sealed class TokenService(
    NeotomaDatabase database,
    OAuthServerOptions options,
    UpstreamIdentityProvider upstream,
    TokenCipher cipher,
    KeyRotationService rotation,
    AuthorizationService authorization,
    AuditLog audit,
    AccessTokenCache grants,
    TimeProvider timeProvider,
    ILogger<TokenService> logger)
{
    public async Task<TokenResponse> ExchangeAsync(IEnumerable<KeyValuePair<string, StringValues>> form, string? clientIp, CancellationToken cancellationToken)
    {
        var p = OAuthParameters.SingleValued(form);
        return p.GetValueOrDefault("grant_type") switch
        {
            "authorization_code" => await RedeemCodeAsync(p, cancellationToken),
            "refresh_token" => await RefreshAsync(p, clientIp, cancellationToken),
            null or "" => throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "grant_type is required."),
            _ => throw new OAuthException(OAuthErrorCode.OAUTH_UNSUPPORTED_GRANT_TYPE, "grant_type must be authorization_code or refresh_token."),
        };
    }

    private sealed record CodeRow(string ConnectionId, string ClientId, string RedirectUri, string Challenge, string Scope, string Resource,
        DateTimeOffset ExpiresAt, bool AlreadyUsed, string UserId, bool ConnectionRevoked);

    private async Task<TokenResponse> RedeemCodeAsync(Dictionary<string, string> p, CancellationToken cancellationToken)
    {
        var code = Required(p, "code");
        var clientId = Required(p, "client_id");
        var verifier = Required(p, "code_verifier");
        var codeHash = OpaqueToken.Hash(code);

        return await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            // Single use under concurrency: the row lock of this UPDATE lets exactly one caller see used_at IS NULL.
            CodeRow? row;
            await using (var consume = new NpgsqlCommand("""
                WITH previous AS (SELECT code_hash, used_at FROM mcp_oauth_codes WHERE code_hash = @hash FOR UPDATE)
                UPDATE mcp_oauth_codes c SET used_at = coalesce(c.used_at, @now)
                FROM previous, mcp_oauth_connections conn
                WHERE c.code_hash = previous.code_hash AND conn.connection_id = c.connection_id
                RETURNING c.connection_id, c.client_id, c.redirect_uri, c.code_challenge, c.scope, c.resource, c.expires_at,
                          previous.used_at IS NOT NULL, conn.user_id, conn.revoked_at IS NOT NULL
                """, connection, transaction))
            {
                consume.Parameters.AddWithValue("hash", codeHash);
                consume.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
                await using var reader = await consume.ExecuteReaderAsync(cancellationToken);
                row = await reader.ReadAsync(cancellationToken)
                    ? new CodeRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                        reader.GetString(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetBoolean(7), reader.GetString(8), reader.GetBoolean(9))
                    : null;
            }

            if (row is null)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code is unknown.");
            }

            if (row.AlreadyUsed)
            {
                // RFC 6749 §4.1.2: a replayed code revokes every token issued from it.
                await RevokeFamilyAsync(connection, transaction, codeHash, cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code was already used; the tokens issued from it are revoked.");
            }

            if (row.ExpiresAt <= timeProvider.GetUtcNow())
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code expired; sign in again.");
            }

            if (row.ClientId != clientId)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The authorization code was issued to another client.");
            }

            if (p.TryGetValue("redirect_uri", out var redirectUri) && redirectUri != row.RedirectUri)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "redirect_uri does not match the one of the authorization request.");
            }

            if (!Pkce.Verify(verifier, row.Challenge))
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_PKCE_FAILED, "PKCE validation failed: code_verifier does not match the code_challenge.");
            }

            if (p.TryGetValue("resource", out var resource) && !authorization.IsOurResource(resource))
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_TARGET, $"resource must be {options.Resource}.");
            }

            if (row.ConnectionRevoked)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, "This connection was revoked; sign in again.");
            }

            return await IssueAsync(connection, transaction, codeHash, row.ConnectionId, row.ClientId, row.UserId, row.Scope, row.Resource, cancellationToken);
        }, cancellationToken);
    }

    private sealed record RefreshRow(string FamilyId, string ConnectionId, string ClientId, string UserId, string Scope, string Resource);

    /// <summary>Reads the columns both refresh statements return: family_id, connection_id, client_id, user_id, scope, resource.</summary>
    private static RefreshRow ReadRefreshRow(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5));

    private async Task<TokenResponse> RefreshAsync(Dictionary<string, string> p, string? clientIp, CancellationToken cancellationToken)
    {
        var refreshToken = Required(p, "refresh_token");
        var clientId = Required(p, "client_id");
        var hash = OpaqueToken.Hash(refreshToken);
        var now = timeProvider.GetUtcNow();

        var row = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var consume = new NpgsqlCommand("""
                UPDATE mcp_oauth_tokens t SET used_at = @now
                FROM mcp_oauth_connections c
                WHERE t.token_hash = @hash AND t.kind = 'refresh' AND t.client_id = @client
                  AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > @now
                  AND c.connection_id = t.connection_id AND c.revoked_at IS NULL
                RETURNING t.family_id, t.connection_id, t.client_id, t.user_id, t.scope, t.resource
                """, connection, transaction);
            consume.Parameters.AddWithValue("hash", hash);
            consume.Parameters.AddWithValue("client", clientId);
            consume.Parameters.AddWithValue("now", now);
            await using (var reader = await consume.ExecuteReaderAsync(cancellationToken))
            {
                if (await reader.ReadAsync(cancellationToken))
                {
                    return ReadRefreshRow(reader);
                }
            }

            return await HandleUnusableRefreshAsync(connection, transaction, hash, clientId, now, cancellationToken);
        }, cancellationToken);

        if (row is null)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT, "The refresh token is invalid, expired, revoked or was already used.");
        }

        await audit.WriteAsync(new AuditEntry(AuditEvents.TokenRefreshInitiated, row.ConnectionId, row.UserId, row.ClientId, clientIp), cancellationToken);
        try
        {
            await RefreshUpstreamIfDueAsync(row.ConnectionId, cancellationToken);
        }
        catch (OAuthException e) when (e.Code == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED)
        {
            await RevokeConnectionAsync(row.ConnectionId, cancellationToken);
            await audit.WriteAsync(new AuditEntry(AuditEvents.TokenRefreshFailed, row.ConnectionId, row.UserId, row.ClientId, clientIp, false, e.Code), cancellationToken);
            await audit.WriteAsync(new AuditEntry(AuditEvents.ConnectionRevoked, row.ConnectionId, row.UserId, row.ClientId, clientIp), cancellationToken);
            throw;
        }

        return await database.InTransactionAsync(DbScope.OAuth, (connection, transaction) =>
            IssueAsync(connection, transaction, row.FamilyId, row.ConnectionId, row.ClientId, row.UserId, row.Scope, row.Resource, cancellationToken),
            cancellationToken);
    }

    /// <summary>
    /// A refresh token that cannot be used as is. If it was rotated moments ago, the client
    /// probably lost our response (a dropped connection, a crashed process): it may redeem it
    /// once more within the grace window. Any other reuse is treated as theft and revokes the family.
    /// </summary>
    private async Task<RefreshRow?> HandleUnusableRefreshAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string hash, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using (var grace = new NpgsqlCommand("""
            UPDATE mcp_oauth_tokens t SET revoked_at = @now
            FROM mcp_oauth_connections c
            WHERE t.token_hash = @hash AND t.kind = 'refresh' AND t.client_id = @client
              AND t.used_at > @graceStart AND t.revoked_at IS NULL AND t.expires_at > @now
              AND c.connection_id = t.connection_id AND c.revoked_at IS NULL
            RETURNING t.family_id, t.connection_id, t.client_id, t.user_id, t.scope, t.resource
            """, connection, transaction))
        {
            grace.Parameters.AddWithValue("hash", hash);
            grace.Parameters.AddWithValue("client", clientId);
            grace.Parameters.AddWithValue("now", now);
            grace.Parameters.AddWithValue("graceStart", now - options.RefreshReuseGrace);
            await using var reader = await grace.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                return ReadRefreshRow(reader);
            }
        }

        await using var lookup = new NpgsqlCommand("""
            SELECT t.family_id, t.connection_id, t.used_at IS NOT NULL, c.connection_id IS NULL OR c.revoked_at IS NOT NULL
            FROM mcp_oauth_tokens t LEFT JOIN mcp_oauth_connections c ON c.connection_id = t.connection_id
            WHERE t.token_hash = @hash AND t.kind = 'refresh' AND t.client_id = @client
            """, connection, transaction);
        lookup.Parameters.AddWithValue("hash", hash);
        lookup.Parameters.AddWithValue("client", clientId);
        string? family = null, connectionId = null;
        bool reused = false, connectionGone = false;
        await using (var reader = await lookup.ExecuteReaderAsync(cancellationToken))
        {
            if (await reader.ReadAsync(cancellationToken))
            {
                family = reader.GetString(0);
                connectionId = reader.IsDBNull(1) ? null : reader.GetString(1);
                reused = reader.GetBoolean(2);
                connectionGone = reader.GetBoolean(3);
            }
        }

        if (connectionGone)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND,
                "The connection behind this token was revoked or deleted. Remove and re-add Neotoma in your MCP client to sign in again.");
        }

        if (reused)
        {
            // Commit the revocation even though the request fails: that is the point of it.
            await RevokeFamilyAsync(connection, transaction, family!, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            OAuthLog.RefreshReuse(logger, connectionId ?? "(deleted)");
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_GRANT,
                "This refresh token was already used; every token of this sign-in is now revoked. Sign in again.");
        }

        return null;
    }

    /// <summary>The upstream access token is refreshed only when it is about to expire: no upstream call otherwise.</summary>
    private async Task RefreshUpstreamIfDueAsync(string connectionId, CancellationToken cancellationToken)
    {
        var (encryptedRefresh, expiresAt) = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand(
                "SELECT refresh_token, upstream_access_token_expires_at FROM mcp_oauth_connections WHERE connection_id = @id",
                connection, transaction);
            command.Parameters.AddWithValue("id", connectionId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken)
                ? (reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(1))
                : throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, "The connection of this token no longer exists; sign in again.");
        }, cancellationToken);

        if (expiresAt is { } expiry && expiry > timeProvider.GetUtcNow().Add(options.UpstreamRefreshMargin))
        {
            // No upstream call; but rows written under a previous key move to the current one as they are used.
            if (encryptedRefresh is not null && cipher.TryDecryptWithAge(encryptedRefresh) is { Stale: true })
            {
                await rotation.ReencryptIfStaleAsync(connectionId, cancellationToken);
            }

            return;
        }

        OAuthLog.Refreshing(logger, connectionId);
        var upstreamRefresh = encryptedRefresh is null ? null : cipher.TryDecrypt(encryptedRefresh);
        if (upstreamRefresh is null)
        {
            OAuthLog.FailedTo(logger, "decrypt refresh token", encryptedRefresh is null ? "none stored" : "the key changed or the stored text was altered");
            throw new OAuthException(OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED,
                "This connection's stored sign-in could not be read (the encryption key changed or the data was altered). Sign in again.");
        }

        var tokens = await upstream.RefreshAsync(upstreamRefresh, cancellationToken);
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var update = new NpgsqlCommand("""
                UPDATE mcp_oauth_connections
                SET refresh_token = coalesce(@refresh, refresh_token), upstream_access_token = @access,
                    upstream_access_token_expires_at = @expires, last_used_at = @now
                WHERE connection_id = @id
                """, connection, transaction);
            update.Parameters.AddWithValue("refresh", tokens.RefreshToken is null ? DBNull.Value : cipher.Encrypt(tokens.RefreshToken));
            update.Parameters.AddWithValue("access", cipher.Encrypt(tokens.AccessToken));
            update.Parameters.AddWithValue("expires", tokens.AccessTokenExpiresAt);
            update.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            update.Parameters.AddWithValue("id", connectionId);
            await update.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    private async Task<TokenResponse> IssueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string familyId, string connectionId,
        string clientId, string userId, string scope, string resource, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var access = OpaqueToken.New(32);
        var refresh = OpaqueToken.New(32);
        await using var insert = new NpgsqlCommand("""
            INSERT INTO mcp_oauth_tokens (token_hash, kind, family_id, connection_id, client_id, user_id, scope, resource, created_at, expires_at)
            VALUES (@accessHash, 'access', @family, @connection, @client, @user, @scope, @resource, @now, @accessExpires),
                   (@refreshHash, 'refresh', @family, @connection, @client, @user, @scope, @resource, @now, @refreshExpires);
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
        insert.Parameters.AddWithValue("resource", resource);
        insert.Parameters.AddWithValue("now", now);
        insert.Parameters.AddWithValue("accessExpires", now.Add(options.AccessTokenLifetime));
        insert.Parameters.AddWithValue("refreshExpires", now.Add(options.RefreshTokenLifetime));
        await insert.ExecuteNonQueryAsync(cancellationToken);
        return new TokenResponse(access, "Bearer", (int)options.AccessTokenLifetime.TotalSeconds, refresh, scope);
    }

    /// <summary>
    /// Issues a token pair for an existing connection, exactly as the token endpoint does after a
    /// sign-in. For tools that need a real token without a browser (the benchmark); never exposed over HTTP.
    /// </summary>
    public Task<TokenResponse> MintAsync(string connectionId, string clientId, string userId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, (connection, transaction) =>
            IssueAsync(connection, transaction, "mint_" + OpaqueToken.New(16), connectionId, clientId, userId,
                OAuthServerOptions.McpScope, options.Resource, cancellationToken), cancellationToken);

    /// <summary>One indexed lookup (token hash, then its connection by primary key); never a call upstream.</summary>
    public async Task<AccessGrant?> ValidateAccessTokenAsync(string token, CancellationToken cancellationToken)
    {
        var hash = OpaqueToken.Hash(token);
        if (grants.TryGet(hash, out var cached))
        {
            return cached;
        }

        var found = await database.QuerySingleAsync(DbScope.OAuth, """
            SELECT t.user_id, t.client_id, t.connection_id, t.scope, t.resource, t.expires_at
            FROM mcp_oauth_tokens t JOIN mcp_oauth_connections c ON c.connection_id = t.connection_id
            WHERE t.token_hash = @hash AND t.kind = 'access' AND t.revoked_at IS NULL AND t.expires_at > @now AND c.revoked_at IS NULL
            """,
            parameters =>
            {
                parameters.AddWithValue("hash", hash);
                parameters.AddWithValue("now", timeProvider.GetUtcNow());
            },
            reader => (Grant: new AccessGrant(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)),
                       ExpiresAt: reader.GetFieldValue<DateTimeOffset>(5)),
            cancellationToken);
        if (found is not { } row || row.Grant.Resource != options.Resource)
        {
            return null;
        }

        grants.Add(hash, row.Grant, row.ExpiresAt);
        return row.Grant;
    }

    /// <summary>RFC 7009: revoking a refresh token revokes its family; the answer is the same whether or not the token existed.</summary>
    public Task RevokeAsync(IEnumerable<KeyValuePair<string, StringValues>> form, CancellationToken cancellationToken)
    {
        var p = OAuthParameters.SingleValued(form);
        var token = Required(p, "token");
        grants.Clear();
        return database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                UPDATE mcp_oauth_tokens SET revoked_at = coalesce(revoked_at, @now)
                WHERE family_id IN (SELECT family_id FROM mcp_oauth_tokens WHERE token_hash = @hash AND kind = 'refresh')
                   OR token_hash = @hash
                """, connection, transaction);
            command.Parameters.AddWithValue("hash", OpaqueToken.Hash(token));
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    private Task RevokeConnectionAsync(string connectionId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            grants.Clear();
            await using var command = new NpgsqlCommand(
                "UPDATE mcp_oauth_connections SET revoked_at = coalesce(revoked_at, @now) WHERE connection_id = @id", connection, transaction);
            command.Parameters.AddWithValue("id", connectionId);
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    private async Task RevokeFamilyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string familyId, CancellationToken cancellationToken)
    {
        grants.Clear();
        await using var command = new NpgsqlCommand(
            "UPDATE mcp_oauth_tokens SET revoked_at = coalesce(revoked_at, @now) WHERE family_id = @family", connection, transaction);
        command.Parameters.AddWithValue("family", familyId);
        command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Required(Dictionary<string, string> p, string name) =>
        p.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"{name} is required.");
}
