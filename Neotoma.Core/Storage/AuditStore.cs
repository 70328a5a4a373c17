using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>One row of the audit trail as written.</summary>
public sealed record AuditRow(
    string Event, string? ConnectionId, string? UserId, string? ClientId, string? ClientIp, bool Success, string? ErrorCode);

/// <summary>
/// One audit event of the person, with the name of the client or personal token it concerns: that
/// connection's, or (for an event without one) the latest the person's connections gave that client.
/// </summary>
public sealed record PersonAuditRow(DateTimeOffset At, string Event, string? ClientId, string? ClientIp, bool Success, string? ErrorCode, string? ClientName);

/// <summary><c>mcp_oauth_audit</c>: the only code with SQL for it.</summary>
public static class AuditStore
{
    public static Task AppendAsync(NeotomaDatabase database, AuditRow row, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_audit (event, connection_id, user_id, client_id, client_ip, success, error_code)
                VALUES (@event, @connection, @user, @client, @ip, @success, @code)
                """);
            command.Parameters.With("event", row.Event).With("connection", row.ConnectionId).With("user", row.UserId).With("client", row.ClientId)
                .With("ip", row.ClientIp).With("success", row.Success).With("code", row.ErrorCode);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>The person's latest <paramref name="limit"/> events, newest first, read as that person.</summary>
    public static Task<List<PersonAuditRow>> LatestAsync(NeotomaDatabase database, string userId, int limit, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), """
            SELECT a.created_at, a.event, a.client_id, a.client_ip, a.success, a.error_code,
                   COALESCE((SELECT c.client_name FROM mcp_oauth_connections c WHERE c.connection_id = a.connection_id),
                            (SELECT c.client_name FROM mcp_oauth_connections c WHERE c.client_id = a.client_id ORDER BY c.created_at DESC LIMIT 1))
            FROM mcp_oauth_audit a
            ORDER BY a.created_at DESC, a.id DESC LIMIT @limit
            """,
            parameters => parameters.AddWithValue("limit", limit),
            reader => new PersonAuditRow(reader.At(0), reader.GetString(1), reader.Text(2), reader.Text(3), reader.GetBoolean(4), reader.Text(5), reader.Text(6)),
            cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> rows older than <paramref name="retention"/>; how many.</summary>
    public static async Task<int> DeleteOldAsync(NpgsqlTransaction transaction, DateTimeOffset now, TimeSpan retention, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_audit WHERE id IN (
                SELECT id FROM mcp_oauth_audit WHERE created_at < @now - @retention LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("retention", retention).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
