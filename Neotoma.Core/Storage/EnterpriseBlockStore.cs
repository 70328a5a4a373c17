using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// <c>mcp_oauth_enterprise_blocks</c>: the only code with SQL for it. A person's refusal of one client's
/// enterprise-granted access, which holds against every fresh ID-JAG until the person allows it again.
/// </summary>
public static class EnterpriseBlockStore
{
    public static async Task<bool> IsBlockedAsync(NeotomaDatabase database, string userId, string clientId, CancellationToken cancellationToken) =>
        await database.QuerySingleAsync(DbScope.OAuth, "SELECT true FROM mcp_oauth_enterprise_blocks WHERE user_id = @user AND client_id = @client",
            parameters => parameters.With("user", userId).With("client", clientId), reader => reader.GetBoolean(0), cancellationToken) is true;

    /// <summary>
    /// Whether the person blocked the client, read in the grant's transaction once it holds the grant's locks:
    /// a revocation that committed meanwhile is seen, one still running has been waited for.
    /// </summary>
    public static async Task<bool> IsBlockedAsync(NpgsqlTransaction transaction, string userId, string clientId, CancellationToken cancellationToken)
    {
        await using var select = transaction.Command("SELECT true FROM mcp_oauth_enterprise_blocks WHERE user_id = @user AND client_id = @client");
        select.Parameters.With("user", userId).With("client", clientId);
        return await select.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>Blocks the client for the person, in the transaction that revokes its connection.</summary>
    public static async Task BlockAsync(NpgsqlTransaction transaction, string userId, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Command("""
            INSERT INTO mcp_oauth_enterprise_blocks (user_id, client_id, blocked_at) VALUES (@user, @client, @now)
            ON CONFLICT (user_id, client_id) DO NOTHING
            """);
        insert.Parameters.With("user", userId).With("client", clientId).With("now", now);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The person allows the client again; false when it was not blocked.</summary>
    public static Task<bool> AllowAsync(NeotomaDatabase database, string userId, string clientId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var delete = transaction.Command("DELETE FROM mcp_oauth_enterprise_blocks WHERE user_id = @user AND client_id = @client");
            delete.Parameters.With("user", userId).With("client", clientId);
            return await delete.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    /// <summary>The clients the person blocked, with when, read as that person.</summary>
    public static Task<List<(string ClientId, DateTimeOffset BlockedAt)>> ListAsync(NeotomaDatabase database, string userId, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), "SELECT client_id, blocked_at FROM mcp_oauth_enterprise_blocks ORDER BY blocked_at DESC",
            _ => { }, reader => (reader.GetString(0), reader.At(1)), cancellationToken);
}
