using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>An authorization code as issued to a client, stored only as the hash of the code.</summary>
public sealed record NewCode(
    string CodeHash, string ConnectionId, string ClientId, string RedirectUri, string CodeChallenge, string Scope, string Resource,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt);

/// <summary>A code as it was spent, and whether it had been spent before (a replay).</summary>
public sealed record SpentCode(string ClientId, string RedirectUri, string CodeChallenge, string Scope, string Resource, DateTimeOffset ExpiresAt, bool AlreadyUsed);

/// <summary><c>mcp_oauth_codes</c>: the only code with SQL for it.</summary>
public static class CodeStore
{
    /// <summary>Codes are kept this long past expiry, so a late replay is still recognised as one (and revokes what the code gave).</summary>
    public static readonly TimeSpan KeptForReplay = TimeSpan.FromMinutes(10);

    public static async Task InsertAsync(NpgsqlTransaction transaction, NewCode code, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("""
            INSERT INTO mcp_oauth_codes (code_hash, connection_id, client_id, redirect_uri, code_challenge, scope, resource, created_at, expires_at)
            VALUES (@hash, @connection, @client, @redirect, @challenge, @scope, @resource, @now, @expires)
            """);
        command.Parameters.With("hash", code.CodeHash).With("connection", code.ConnectionId).With("client", code.ClientId).With("redirect", code.RedirectUri)
            .With("challenge", code.CodeChallenge).With("scope", code.Scope).With("resource", code.Resource).With("now", code.CreatedAt).With("expires", code.ExpiresAt);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The connection a code belongs to, read without a lock (its transaction then locks the connection first).</summary>
    public static Task<string?> ConnectionOfAsync(NeotomaDatabase database, string codeHash, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("SELECT connection_id FROM mcp_oauth_codes WHERE code_hash = @hash");
            command.Parameters.AddWithValue("hash", codeHash);
            return await command.ExecuteScalarAsync(cancellationToken) as string;
        }, cancellationToken);

    /// <summary>
    /// Spends a code, whoever presents it and whatever else is wrong, so a verifier cannot be guessed
    /// twice. Under its connection's lock exactly one caller sees it unspent. Null for an unknown code.
    /// </summary>
    public static async Task<SpentCode?> SpendAsync(NpgsqlTransaction transaction, string codeHash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var spend = transaction.Command("""
            WITH previous AS (SELECT code_hash, used_at FROM mcp_oauth_codes WHERE code_hash = @hash)
            UPDATE mcp_oauth_codes c SET used_at = coalesce(c.used_at, @now)
            FROM previous WHERE c.code_hash = previous.code_hash
            RETURNING c.client_id, c.redirect_uri, c.code_challenge, c.scope, c.resource, c.expires_at, previous.used_at IS NOT NULL
            """);
        spend.Parameters.With("hash", codeHash).With("now", now);
        return await spend.FirstAsync(reader => new SpentCode(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
            reader.GetString(4), reader.At(5), reader.GetBoolean(6)), cancellationToken);
    }

    /// <summary>Deletes up to <paramref name="limit"/> codes expired for longer than <see cref="KeptForReplay"/>; how many.</summary>
    public static async Task<int> DeleteExpiredAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_codes WHERE code_hash IN (
                SELECT code_hash FROM mcp_oauth_codes WHERE expires_at <= @before LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("before", now - KeptForReplay).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
