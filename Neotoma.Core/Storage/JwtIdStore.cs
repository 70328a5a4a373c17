using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// <c>mcp_oauth_jwt_ids</c>: the only code with SQL for it. The JWT ids (<c>jti</c>) already accepted, one
/// row per issuer and id, kept until the JWT they came in expires: a JWT that must be used once (a client
/// assertion, RFC 7523 §3 item 7; later an enterprise-managed authorization grant) is recorded here before
/// it is honoured, on every instance through one table.
/// </summary>
public static class JwtIdStore
{
    /// <summary>
    /// Records <paramref name="jti"/> of <paramref name="issuer"/> until <paramref name="expiresAt"/>:
    /// true the first time, false for a JWT id seen before (still unexpired). One insert that either
    /// lands or does not, never a read then a write, so of two concurrent uses exactly one is true.
    /// </summary>
    public static Task<bool> TryRecordAsync(
        NeotomaDatabase database, string issuer, string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var insert = transaction.Command("""
                INSERT INTO mcp_oauth_jwt_ids (issuer, jti, expires_at) VALUES (@issuer, @jti, @expires)
                ON CONFLICT (issuer, jti) DO NOTHING
                """);
            insert.Parameters.With("issuer", issuer).With("jti", jti).With("expires", expiresAt);
            return await insert.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> ids whose JWT expired before <paramref name="now"/>; how many.</summary>
    public static async Task<int> DeleteExpiredAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_jwt_ids WHERE (issuer, jti) IN (
                SELECT issuer, jti FROM mcp_oauth_jwt_ids WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
