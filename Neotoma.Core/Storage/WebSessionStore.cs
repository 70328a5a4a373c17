using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary><c>mcp_oauth_web_sessions</c>: the only code with SQL for it. Sessions are kept as the hash of the cookie.</summary>
public static class WebSessionStore
{
    public static Task InsertAsync(
        NeotomaDatabase database, string sessionHash, string userId, string signInId, DateTimeOffset now, DateTimeOffset expires, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_web_sessions (session_hash, user_id, sign_in_id, created_at, last_seen_at, expires_at)
                VALUES (@hash, @user, @signIn, @now, @now, @expires)
                """);
            command.Parameters.With("hash", sessionHash).With("user", userId).With("signIn", signInId).With("now", now).With("expires", expires);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>A live session made after <paramref name="oldest"/> and bound to a sign-in.</summary>
    public static Task<(string UserId, DateTimeOffset LastSeen, string SignInId)?> FindLiveAsync(
        NeotomaDatabase database, string sessionHash, DateTimeOffset now, DateTimeOffset oldest, CancellationToken cancellationToken) =>
        database.QuerySingleAsync(DbScope.OAuth, """
            SELECT user_id, last_seen_at, sign_in_id FROM mcp_oauth_web_sessions
            WHERE session_hash = @hash AND expires_at > @now AND created_at > @oldest AND sign_in_id IS NOT NULL
            """,
            parameters => parameters.With("hash", sessionHash).With("now", now).With("oldest", oldest),
            reader => (reader.GetString(0), reader.At(1), reader.GetString(2)),
            cancellationToken);

    public static Task TouchAsync(NeotomaDatabase database, string sessionHash, DateTimeOffset now, DateTimeOffset expires, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var touch = transaction.Command("UPDATE mcp_oauth_web_sessions SET last_seen_at = @now, expires_at = @expires WHERE session_hash = @hash");
            touch.Parameters.With("hash", sessionHash).With("now", now).With("expires", expires);
            await touch.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public static Task DeleteAsync(NeotomaDatabase database, string sessionHash, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("DELETE FROM mcp_oauth_web_sessions WHERE session_hash = @hash");
            command.Parameters.AddWithValue("hash", sessionHash);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Deletes every session of the person; how many.</summary>
    public static Task<int> DeleteAllOfAsync(NeotomaDatabase database, string userId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("DELETE FROM mcp_oauth_web_sessions WHERE user_id = @user");
            command.Parameters.AddWithValue("user", userId);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Deletes the sessions a browser sign-in bounds, in the caller's transaction (which ends that sign-in).</summary>
    public static async Task DeleteOfSignInAsync(NpgsqlTransaction transaction, string signInId, CancellationToken cancellationToken)
    {
        await using var sessions = transaction.Command("DELETE FROM mcp_oauth_web_sessions WHERE sign_in_id = @id");
        sessions.Parameters.AddWithValue("id", signInId);
        await sessions.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Deletes up to <paramref name="limit"/> expired sessions; how many.</summary>
    public static async Task<int> DeleteExpiredAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_web_sessions WHERE session_hash IN (
                SELECT session_hash FROM mcp_oauth_web_sessions WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
