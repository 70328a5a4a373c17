using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Keeps a connection's upstream sign-in alive when its client refreshes: the upstream access
/// token is refreshed only when it is about to expire, with the stored (encrypted) upstream refresh
/// token. It runs inside the refresh transaction, which holds the connection's lock, so two
/// refreshes never spend one upstream refresh token twice. Its failures say what they are: the
/// provider not answering is <see cref="OAuthErrorCode.OAUTH_UPSTREAM_UNAVAILABLE"/> (nothing changes;
/// retry later), the provider refusing the refresh token is <see cref="OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED"/>
/// (the sign-in is over), anything else <see cref="OAuthErrorCode.OAUTH_UPSTREAM_ERROR"/>.
/// </summary>
public sealed class UpstreamSessionRefresher(
    UpstreamIdentityProvider upstream,
    TokenCipher cipher,
    KeyRotationService rotation,
    OAuthServerOptions options,
    TimeProvider timeProvider,
    ILogger<UpstreamSessionRefresher> logger)
{
    public async Task RefreshIfDueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        string? encryptedRefresh, encryptedAccess;
        DateTimeOffset? expiresAt;
        await using (var select = new NpgsqlCommand(
            "SELECT refresh_token, upstream_access_token, upstream_access_token_expires_at FROM mcp_oauth_connections WHERE connection_id = @id",
            connection, transaction))
        {
            select.Parameters.AddWithValue("id", connectionId);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, "The connection of this token no longer exists; sign in again.");
            }

            encryptedRefresh = reader.IsDBNull(0) ? null : reader.GetString(0);
            encryptedAccess = reader.IsDBNull(1) ? null : reader.GetString(1);
            expiresAt = reader.IsDBNull(2) ? null : reader.GetFieldValue<DateTimeOffset>(2);
        }

        if (encryptedRefresh is null && encryptedAccess is null)
        {
            // Made from a remembered approval in a signed-in browser, not from a sign-in at the
            // provider: there is no upstream session to keep alive.
            return;
        }

        if (expiresAt is { } expiry && expiry > timeProvider.GetUtcNow().Add(options.UpstreamRefreshMargin))
        {
            // No upstream call; but rows written under a previous key move to the current one as they are used.
            await rotation.ReencryptIfStaleAsync(connection, transaction, connectionId, encryptedRefresh, encryptedAccess, cancellationToken);
            return;
        }

        OAuthLog.Refreshing(logger, connectionId);
        var upstreamRefresh = encryptedRefresh is null ? null : cipher.TryDecrypt(encryptedRefresh);
        if (upstreamRefresh is null)
        {
            UpstreamLog.FailedTo(logger, "decrypt refresh token", encryptedRefresh is null ? "none stored" : "the key changed or the stored text was altered");
            throw new OAuthException(OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED,
                "This connection's stored sign-in could not be read (the encryption key changed or the data was altered). Sign in again.");
        }

        var tokens = await upstream.RefreshAsync(upstreamRefresh, cancellationToken);
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
    }
}
