using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary><c>mcp_oauth_browser_sign_ins</c>: the only code with SQL for it.</summary>
public static class BrowserSignInStore
{
    /// <summary>The upstream tokens a sign-in on the connections page holds.</summary>
    public static UpstreamTokenHolder Upstream { get; } = new("mcp_oauth_browser_sign_ins", "sign_in_id");

    public static Task InsertAsync(
        NeotomaDatabase database, string signInId, string userId, StoredUpstreamTokens? upstream, DateTimeOffset now, DateTimeOffset? expiresAt,
        CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var insert = transaction.Command("""
                INSERT INTO mcp_oauth_browser_sign_ins (sign_in_id, user_id, refresh_token, upstream_access_token, upstream_access_token_expires_at,
                    created_at, expires_at)
                VALUES (@id, @user, @refresh, @access, @accessExpires, @now, @expires)
                """);
            insert.Parameters.With("id", signInId).With("user", userId).With("refresh", upstream?.Refresh).With("access", upstream?.Access)
                .With("accessExpires", upstream?.AccessExpiresAt).With("now", now).With("expires", expiresAt);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// Shares a live sign-in for the rest of the caller's transaction (an end meanwhile waits for it).
    /// Live: whether it is; and its absolute end, if it has one.
    /// </summary>
    public static async Task<(bool Live, DateTimeOffset? ExpiresAt)> ShareAsync(NpgsqlTransaction transaction, string signInId, CancellationToken cancellationToken)
    {
        await using var hold = transaction.Command("SELECT expires_at FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id AND ended_at IS NULL FOR SHARE");
        hold.Parameters.AddWithValue("id", signInId);
        await using var reader = await hold.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? (true, reader.Time(0)) : (false, null);
    }

    /// <summary>Shares the sign-in that made a connection (if any) for the rest of the caller's transaction.</summary>
    public static async Task ShareOfConnectionAsync(NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        await using var share = transaction.Command("""
            SELECT 1 FROM mcp_oauth_browser_sign_ins
            WHERE sign_in_id = (SELECT sign_in_id FROM mcp_oauth_connections WHERE connection_id = @id) FOR SHARE
            """);
        share.Parameters.AddWithValue("id", connectionId);
        await share.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Live sign-ins whose absolute end has come.</summary>
    public static Task<List<(string SignInId, string UserId)>> ExpiredAsync(NeotomaDatabase database, DateTimeOffset now, CancellationToken cancellationToken) =>
        LiveAsync(database, "expires_at <= @now", parameters => parameters.With("now", now), cancellationToken);

    /// <summary>
    /// Live sign-ins older than <paramref name="grace"/> that nothing uses: no live web session (younger than
    /// <paramref name="sessionLifetime"/>) and no live connection (pending, or with a live token).
    /// </summary>
    public static Task<List<(string SignInId, string UserId)>> UnusedAsync(
        NeotomaDatabase database, DateTimeOffset now, TimeSpan grace, TimeSpan sessionLifetime, CancellationToken cancellationToken) =>
        LiveAsync(database, """
            created_at < @now - @grace
            AND NOT EXISTS (SELECT 1 FROM mcp_oauth_web_sessions w WHERE w.sign_in_id = s.sign_in_id AND w.expires_at > @now AND w.created_at > @now - @absolute)
            AND NOT EXISTS (SELECT 1 FROM mcp_oauth_connections c WHERE c.sign_in_id = s.sign_in_id AND c.revoked_at IS NULL
                            AND (c.pending OR EXISTS (SELECT 1 FROM mcp_oauth_tokens t
                                                      WHERE t.connection_id = c.connection_id AND t.revoked_at IS NULL AND t.expires_at > @now)))
            """,
            parameters => parameters.With("now", now).With("grace", grace).With("absolute", sessionLifetime), cancellationToken);

    /// <summary>Live sign-ins holding a refresh token whose upstream access token expires within <paramref name="margin"/>.</summary>
    public static Task<List<(string SignInId, string UserId)>> DueAsync(NeotomaDatabase database, DateTimeOffset now, TimeSpan margin, CancellationToken cancellationToken) =>
        LiveAsync(database, "refresh_token IS NOT NULL AND upstream_access_token_expires_at <= @now + @margin",
            parameters => parameters.With("now", now).With("margin", margin), cancellationToken);

    /// <summary>The person's live sign-ins.</summary>
    public static Task<List<(string SignInId, string UserId)>> LiveOfAsync(NeotomaDatabase database, string userId, CancellationToken cancellationToken) =>
        LiveAsync(database, "user_id = @user", parameters => parameters.With("user", userId), cancellationToken);

    private static Task<List<(string SignInId, string UserId)>> LiveAsync(
        NeotomaDatabase database, string condition, Action<NpgsqlParameterCollection> parameters, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.OAuth, $"SELECT sign_in_id, user_id FROM mcp_oauth_browser_sign_ins s WHERE ended_at IS NULL AND {condition}",
            parameters, reader => (reader.GetString(0), reader.GetString(1)), cancellationToken);

    /// <summary>
    /// Locks a live sign-in (FOR NO KEY UPDATE: connections may still reference it meanwhile) for the rest of
    /// the transaction: its person and encrypted refresh token. Null when it ended, or (<paramref name="skipLocked"/>)
    /// another transaction holds it.
    /// </summary>
    public static async Task<(string UserId, string? EncryptedRefresh)?> LockLiveAsync(
        NpgsqlTransaction transaction, string signInId, bool skipLocked, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command(
            $"SELECT user_id, refresh_token FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id AND ended_at IS NULL FOR NO KEY UPDATE{(skipLocked ? " SKIP LOCKED" : "")}");
        select.Parameters.AddWithValue("id", signInId);
        var rows = await select.ListAsync(reader => (reader.GetString(0), reader.Text(1)), cancellationToken);
        return rows.Count == 1 ? rows[0] : null;
    }

    /// <summary>Ends a locked sign-in and takes its upstream tokens off the row; the encrypted refresh token it held.</summary>
    public static async Task<string?> EndAsync(NpgsqlTransaction transaction, string signInId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var end = transaction.Command("""
            UPDATE mcp_oauth_browser_sign_ins s SET ended_at = @now, refresh_token = NULL, upstream_access_token = NULL
            FROM (SELECT sign_in_id, refresh_token FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id) old
            WHERE s.sign_in_id = old.sign_in_id
            RETURNING old.refresh_token
            """);
        end.Parameters.With("id", signInId).With("now", now);
        return await end.ExecuteScalarAsync(cancellationToken) as string;
    }
}
