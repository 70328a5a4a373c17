using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary><c>mcp_oauth_upstream_clients</c>: the only code with SQL for it. Neotoma's own registration at a provider, its secret encrypted.</summary>
public static class UpstreamClientStore
{
    /// <summary>
    /// Runs <paramref name="loadOrRegister"/> holding a transaction lock, so instances that start together
    /// register at the provider once: the first registers, the others wait and then find its row.
    /// </summary>
    public static Task<T> UnderRegistrationLockAsync<T>(
        NeotomaDatabase database, long lockKey, Func<NpgsqlTransaction, Task<T>> loadOrRegister, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using (var lockCommand = transaction.Command("SELECT pg_advisory_xact_lock(@key)"))
            {
                lockCommand.Parameters.AddWithValue("key", lockKey);
                await lockCommand.ExecuteNonQueryAsync(cancellationToken);
            }

            return await loadOrRegister(transaction);
        }, cancellationToken);

    /// <summary>The client id and encrypted secret registered at <paramref name="issuer"/>, if any.</summary>
    public static async Task<(string ClientId, string? EncryptedSecret)?> FindAsync(NpgsqlTransaction transaction, string issuer, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command("SELECT client_id, client_secret FROM mcp_oauth_upstream_clients WHERE issuer = @issuer");
        select.Parameters.AddWithValue("issuer", issuer);
        var rows = await select.ListAsync(reader => (reader.GetString(0), reader.Text(1)), cancellationToken);
        return rows.Count == 1 ? rows[0] : null;
    }

    public static async Task SaveAsync(NpgsqlTransaction transaction, string issuer, string clientId, string? encryptedSecret, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Command("INSERT INTO mcp_oauth_upstream_clients (issuer, client_id, client_secret) VALUES (@issuer, @id, @secret)");
        insert.Parameters.With("issuer", issuer).With("id", clientId).With("secret", encryptedSecret);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }
}
