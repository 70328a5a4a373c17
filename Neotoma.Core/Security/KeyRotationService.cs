using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Security;

public sealed record RotationReport(int Reencrypted, int AlreadyCurrent, int Unreadable);

/// <summary>
/// Re-encrypts every stored upstream secret (connections' and browser sign-ins') with the current key, in batches, for
/// `./neotoma rotate-key`. Rows are also re-encrypted one by one as they are next used, so
/// running this is what lets an old key be retired, not what keeps connections working.
/// </summary>
public sealed partial class KeyRotationService(NeotomaDatabase database, TokenCipher cipher, ILogger<KeyRotationService> logger)
{
    private const int BatchSize = 200;

    /// <summary>The tables that hold upstream tokens, each with its key column; both keep them in refresh_token and upstream_access_token.</summary>
    private static readonly (string Table, string Key)[] Holders =
    [
        ("mcp_oauth_connections", "connection_id"),
        ("mcp_oauth_browser_sign_ins", "sign_in_id"),
    ];

    public async Task<RotationReport> RotateAllAsync(CancellationToken cancellationToken)
    {
        int reencrypted = 0, current = 0, unreadable = 0;
        foreach (var holder in Holders)
        {
            var after = "";
            while (true)
            {
                var batch = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
                {
                    var rows = new List<(string Id, string? Refresh, string? Access)>();
                    await using (var select = new NpgsqlCommand($"""
                        SELECT {holder.Key}, refresh_token, upstream_access_token FROM {holder.Table}
                        WHERE {holder.Key} > @after ORDER BY {holder.Key} LIMIT @batch FOR UPDATE SKIP LOCKED
                        """, connection, transaction))
                    {
                        select.Parameters.AddWithValue("after", after);
                        select.Parameters.AddWithValue("batch", BatchSize);
                        await using var reader = await select.ExecuteReaderAsync(cancellationToken);
                        while (await reader.ReadAsync(cancellationToken))
                        {
                            rows.Add((reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
                        }
                    }

                    foreach (var (id, refresh, access) in rows)
                    {
                        var outcome = await ReencryptRowAsync(connection, transaction, holder, id, refresh, access, cancellationToken);
                        reencrypted += outcome == Outcome.Reencrypted ? 1 : 0;
                        current += outcome == Outcome.Current ? 1 : 0;
                        unreadable += outcome == Outcome.Unreadable ? 1 : 0;
                    }

                    return rows;
                }, cancellationToken);

                if (batch.Count == 0)
                {
                    break;
                }

                after = batch[^1].Id;
            }
        }

        var queue = await RotateQueueAsync(cancellationToken);
        var report = new RotationReport(reencrypted + queue.Reencrypted, current + queue.AlreadyCurrent, unreadable + queue.Unreadable);
        Rotated(logger, report.Reencrypted, report.AlreadyCurrent, report.Unreadable);
        return report;
    }

    /// <summary>
    /// The provider revocations still queued (<c>mcp_oauth_upstream_revocations.token</c>), so retiring the
    /// old key does not drop a revocation the provider has not taken yet.
    /// </summary>
    private async Task<RotationReport> RotateQueueAsync(CancellationToken cancellationToken)
    {
        int reencrypted = 0, current = 0, unreadable = 0;
        long after = 0;
        while (true)
        {
            var batch = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
            {
                var rows = new List<(long Id, string Token)>();
                await using (var select = new NpgsqlCommand("""
                    SELECT id, token FROM mcp_oauth_upstream_revocations WHERE id > @after ORDER BY id LIMIT @batch FOR UPDATE SKIP LOCKED
                    """, connection, transaction))
                {
                    select.Parameters.AddWithValue("after", after);
                    select.Parameters.AddWithValue("batch", BatchSize);
                    await using var reader = await select.ExecuteReaderAsync(cancellationToken);
                    while (await reader.ReadAsync(cancellationToken))
                    {
                        rows.Add((reader.GetInt64(0), reader.GetString(1)));
                    }
                }

                foreach (var (id, token) in rows)
                {
                    switch (cipher.TryDecryptWithAge(token))
                    {
                        case null:
                            unreadable++;
                            break;
                        case { Stale: false }:
                            current++;
                            break;
                        case { } stale:
                            await using (var update = new NpgsqlCommand("UPDATE mcp_oauth_upstream_revocations SET token = @token WHERE id = @id", connection, transaction))
                            {
                                update.Parameters.AddWithValue("token", cipher.Encrypt(stale.Plaintext));
                                update.Parameters.AddWithValue("id", id);
                                await update.ExecuteNonQueryAsync(cancellationToken);
                            }

                            reencrypted++;
                            break;
                    }
                }

                return rows;
            }, cancellationToken);

            if (batch.Count == 0)
            {
                return new RotationReport(reencrypted, current, unreadable);
            }

            after = batch[^1].Id;
        }
    }

    /// <summary>
    /// Re-encrypts one connection's stored tokens if a previous key made them, as they are used: for a
    /// connection whose row the caller's transaction has locked and read (the refresh transaction).
    /// </summary>
    public Task ReencryptIfStaleAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, string? refresh, string? access, CancellationToken cancellationToken) =>
        ReencryptRowAsync(connection, transaction, Holders[0], connectionId, refresh, access, cancellationToken);

    private enum Outcome
    {
        Current,
        Reencrypted,
        Unreadable,
    }

    private async Task<Outcome> ReencryptRowAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, (string Table, string Key) holder, string id, string? refresh, string? access,
        CancellationToken cancellationToken)
    {
        var refreshPlain = refresh is null ? null : cipher.TryDecryptWithAge(refresh);
        var accessPlain = access is null ? null : cipher.TryDecryptWithAge(access);
        if ((refresh is not null && refreshPlain is null) || (access is not null && accessPlain is null))
        {
            return Outcome.Unreadable;
        }

        if (refreshPlain?.Stale != true && accessPlain?.Stale != true)
        {
            return Outcome.Current;
        }

        await using var update = new NpgsqlCommand(
            $"UPDATE {holder.Table} SET refresh_token = @refresh, upstream_access_token = @access WHERE {holder.Key} = @id",
            connection, transaction);
        update.Parameters.AddWithValue("refresh", refreshPlain is null ? DBNull.Value : cipher.Encrypt(refreshPlain.Plaintext));
        update.Parameters.AddWithValue("access", accessPlain is null ? DBNull.Value : cipher.Encrypt(accessPlain.Plaintext));
        update.Parameters.AddWithValue("id", id);
        await update.ExecuteNonQueryAsync(cancellationToken);
        return Outcome.Reencrypted;
    }

    [LoggerMessage(EventId = 410, Level = LogLevel.Information,
        Message = "Key rotation: re-encrypted {Reencrypted} stored upstream token(s) (connections, browser sign-ins, queued revocations), {Current} already current, {Unreadable} unreadable with any key")]
    private static partial void Rotated(ILogger logger, int reencrypted, int current, int unreadable);
}
