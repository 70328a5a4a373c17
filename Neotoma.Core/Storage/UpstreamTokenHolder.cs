using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>Upstream tokens as stored, encrypted: a refresh token, an access token and when that one expires.</summary>
public sealed record StoredUpstreamTokens(string? Refresh, string? Access, DateTimeOffset? AccessExpiresAt)
{
    public bool IsEmpty => Refresh is null && Access is null;
}

/// <summary>
/// A table that keeps a person's upstream tokens, encrypted, in <c>refresh_token</c>,
/// <c>upstream_access_token</c> and <c>upstream_access_token_expires_at</c>: connections
/// (<see cref="GrantStore.Upstream"/>) and browser sign-ins (<see cref="BrowserSignInStore.Upstream"/>).
/// What a refresh at the provider and key rotation do to either, written once.
/// </summary>
public sealed class UpstreamTokenHolder
{
    private readonly string table;
    private readonly string key;

    internal UpstreamTokenHolder(string table, string key)
    {
        this.table = table;
        this.key = key;
    }

    /// <summary>The row's stored tokens (the caller's transaction has locked it); null when there is no such row.</summary>
    public async Task<StoredUpstreamTokens?> ReadAsync(NpgsqlTransaction transaction, string id, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command(
            $"SELECT refresh_token, upstream_access_token, upstream_access_token_expires_at FROM {table} WHERE {key} = @id");
        select.Parameters.AddWithValue("id", id);
        return await select.FirstAsync(reader => new StoredUpstreamTokens(reader.Text(0), reader.Text(1), reader.Time(2)), cancellationToken);
    }

    /// <summary>Stores what the provider answered a refresh with; a provider that did not rotate the refresh token leaves it as it was.</summary>
    public async Task StoreRefreshedAsync(
        NpgsqlTransaction transaction, string id, string? encryptedRefresh, string encryptedAccess, DateTimeOffset accessExpiresAt, CancellationToken cancellationToken)
    {
        await using var update = transaction.Command($"""
            UPDATE {table}
            SET refresh_token = coalesce(@refresh, refresh_token), upstream_access_token = @access, upstream_access_token_expires_at = @expires
            WHERE {key} = @id
            """);
        update.Parameters.With("refresh", encryptedRefresh).With("access", encryptedAccess).With("expires", accessExpiresAt).With("id", id);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The next rows after <paramref name="after"/> in key order, locked (rows locked elsewhere are skipped): for key rotation.</summary>
    public async Task<List<(string Id, string? Refresh, string? Access)>> LockBatchAsync(
        NpgsqlTransaction transaction, string after, int batchSize, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command($"""
            SELECT {key}, refresh_token, upstream_access_token FROM {table}
            WHERE {key} > @after ORDER BY {key} LIMIT @batch FOR UPDATE SKIP LOCKED
            """);
        select.Parameters.With("after", after).With("batch", batchSize);
        return await select.ListAsync(reader => (reader.GetString(0), reader.Text(1), reader.Text(2)), cancellationToken);
    }

    /// <summary>Replaces the row's tokens with the same tokens encrypted under the current key.</summary>
    public async Task ReplaceAsync(NpgsqlTransaction transaction, string id, string? encryptedRefresh, string? encryptedAccess, CancellationToken cancellationToken)
    {
        await using var update = transaction.Command($"UPDATE {table} SET refresh_token = @refresh, upstream_access_token = @access WHERE {key} = @id");
        update.Parameters.With("refresh", encryptedRefresh).With("access", encryptedAccess).With("id", id);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }
}
