namespace Neotoma.Core.Storage;

/// <summary>
/// The JWT ids (<c>jti</c>) already accepted, one row per issuer and id, kept until the JWT they came in
/// expires: a JWT that must be used once (a client assertion, RFC 7523 §3 item 7; later an
/// enterprise-managed authorization grant) is recorded here before it is honoured, on every instance
/// through one table. The only code with SQL for <c>mcp_oauth_jwt_ids</c>.
/// </summary>
public sealed class JwtIds(NeotomaDatabase database)
{
    /// <summary>
    /// Records <paramref name="jti"/> of <paramref name="issuer"/> until <paramref name="expiresAt"/>:
    /// true the first time, false for a JWT id seen before (still unexpired). One insert that either
    /// lands or does not, never a read then a write, so of two concurrent uses exactly one is true.
    /// </summary>
    public Task<bool> TryRecordAsync(string issuer, string jti, DateTimeOffset expiresAt, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var insert = new Npgsql.NpgsqlCommand("""
                INSERT INTO mcp_oauth_jwt_ids (issuer, jti, expires_at) VALUES (@issuer, @jti, @expires)
                ON CONFLICT (issuer, jti) DO NOTHING
                """, connection, transaction);
            insert.Parameters.AddWithValue("issuer", issuer);
            insert.Parameters.AddWithValue("jti", jti);
            insert.Parameters.AddWithValue("expires", expiresAt);
            return await insert.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    /// <summary>Deletes at most <paramref name="batch"/> ids whose JWT expired before <paramref name="now"/> (the cleanup timer's step); how many.</summary>
    public Task<int> DeleteExpiredAsync(DateTimeOffset now, int batch, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var delete = new Npgsql.NpgsqlCommand("""
                DELETE FROM mcp_oauth_jwt_ids WHERE (issuer, jti) IN (
                    SELECT issuer, jti FROM mcp_oauth_jwt_ids WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
                """, connection, transaction);
            delete.Parameters.AddWithValue("now", now);
            delete.Parameters.AddWithValue("batch", batch);
            return await delete.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
}
