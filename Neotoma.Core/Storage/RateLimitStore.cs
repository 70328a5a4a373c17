using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary><c>mcp_oauth_rate_limits</c>: the only code with SQL for it. One row per bucket and minute, shared by every instance.</summary>
public static class RateLimitStore
{
    /// <summary>Counts one hit in the bucket's window; the hits so far in it.</summary>
    public static Task<int> HitAsync(NeotomaDatabase database, string bucket, DateTimeOffset window, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_rate_limits (bucket, window_start, hits) VALUES (@bucket, @window, 1)
                ON CONFLICT (bucket, window_start) DO UPDATE SET hits = mcp_oauth_rate_limits.hits + 1
                RETURNING hits
                """);
            command.Parameters.With("bucket", bucket).With("window", window);
            return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
        }, cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> windows that ended over a minute ago; how many.</summary>
    public static async Task<int> DeleteOldAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_rate_limits WHERE (bucket, window_start) IN (
                SELECT bucket, window_start FROM mcp_oauth_rate_limits WHERE window_start < @now - interval '2 minutes'
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
