using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>An upstream token waiting to be revoked at the provider (encrypted), with what held it and how often it was tried.</summary>
public sealed record QueuedRevocation(long Id, string Token, string TokenTypeHint, string HeldBy, int Attempts);

/// <summary><c>mcp_oauth_upstream_revocations</c>: the only code with SQL for it.</summary>
public static class UpstreamRevocationStore
{
    /// <summary>Whether the person still holds an upstream token elsewhere: in a live connection or a live browser sign-in.</summary>
    public static async Task<bool> PersonHoldsUpstreamTokenAsync(NpgsqlTransaction transaction, string userId, CancellationToken cancellationToken)
    {
        await using var others = transaction.Command("""
            SELECT EXISTS (SELECT 1 FROM mcp_oauth_connections WHERE user_id = @user AND revoked_at IS NULL
                             AND (refresh_token IS NOT NULL OR upstream_access_token IS NOT NULL))
                OR EXISTS (SELECT 1 FROM mcp_oauth_browser_sign_ins WHERE user_id = @user AND ended_at IS NULL AND refresh_token IS NOT NULL)
            """);
        others.Parameters.AddWithValue("user", userId);
        return await others.ExecuteScalarAsync(cancellationToken) is true;
    }

    public static async Task EnqueueAsync(
        NpgsqlTransaction transaction, string encryptedToken, string tokenTypeHint, string heldBy, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("""
            INSERT INTO mcp_oauth_upstream_revocations (token, token_type_hint, held_by, created_at, next_attempt_at)
            VALUES (@token, @hint, @heldBy, @now, @now)
            """);
        command.Parameters.With("token", encryptedToken).With("hint", tokenTypeHint).With("heldBy", heldBy).With("now", now);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Claims up to <paramref name="limit"/> due rows until <paramref name="leaseEnd"/>, counting the attempt (rows another instance holds are skipped).</summary>
    public static Task<List<QueuedRevocation>> ClaimDueAsync(
        NeotomaDatabase database, DateTimeOffset now, DateTimeOffset leaseEnd, int limit, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var claim = transaction.Command("""
                UPDATE mcp_oauth_upstream_revocations SET attempts = attempts + 1, next_attempt_at = @leaseEnd
                WHERE id IN (SELECT id FROM mcp_oauth_upstream_revocations WHERE next_attempt_at <= @now
                             ORDER BY next_attempt_at LIMIT @batch FOR UPDATE SKIP LOCKED)
                RETURNING id, token, token_type_hint, held_by, attempts
                """);
            claim.Parameters.With("now", now).With("leaseEnd", leaseEnd).With("batch", limit);
            return await claim.ListAsync(reader => new QueuedRevocation(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetInt32(4)), cancellationToken);
        }, cancellationToken);

    public static Task PostponeAsync(NeotomaDatabase database, long id, DateTimeOffset until, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var later = transaction.Command("UPDATE mcp_oauth_upstream_revocations SET next_attempt_at = @at WHERE id = @id");
            later.Parameters.With("id", id).With("at", until);
            await later.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public static Task DeleteAsync(NeotomaDatabase database, long id, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var delete = transaction.Command("DELETE FROM mcp_oauth_upstream_revocations WHERE id = @id");
            delete.Parameters.AddWithValue("id", id);
            await delete.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>The next rows after <paramref name="after"/> in id order, locked (rows locked elsewhere are skipped): for key rotation.</summary>
    public static async Task<List<(long Id, string Token)>> LockBatchAsync(NpgsqlTransaction transaction, long after, int limit, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command(
            "SELECT id, token FROM mcp_oauth_upstream_revocations WHERE id > @after ORDER BY id LIMIT @batch FOR UPDATE SKIP LOCKED");
        select.Parameters.With("after", after).With("batch", limit);
        return await select.ListAsync(reader => (reader.GetInt64(0), reader.GetString(1)), cancellationToken);
    }

    public static async Task ReplaceTokenAsync(NpgsqlTransaction transaction, long id, string encryptedToken, CancellationToken cancellationToken)
    {
        await using var update = transaction.Command("UPDATE mcp_oauth_upstream_revocations SET token = @token WHERE id = @id");
        update.Parameters.With("token", encryptedToken).With("id", id);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }
}
