using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Maintenance;

public sealed record CleanupReport(IReadOnlyDictionary<string, long> Deleted, TimeSpan Elapsed, TimeSpan LongestBatch)
{
    public long ExpiredStates => Deleted.GetValueOrDefault(StateCleanupService.States);
}

public sealed record CleanupOptions
{
    /// <summary>Dynamically registered clients without a live connection are forgotten after this long unused.</summary>
    public TimeSpan ClientRetention { get; init; } = TimeSpan.FromDays(90);

    /// <summary>Audit rows older than this are deleted (AUDIT_RETENTION_DAYS).</summary>
    public TimeSpan AuditRetention { get; init; } = TimeSpan.FromDays(90);
}

/// <summary>
/// Deletes what has expired: OAuth states, authorization codes, tokens, rate-limit windows and
/// long-unused client registrations. Runs from the 5-minute timer. Deletes in small batches,
/// each its own short transaction with SKIP LOCKED, so a backlog of millions never holds
/// locks that stall sign-ins consuming live rows at the same time.
/// </summary>
public sealed class StateCleanupService(
    NeotomaDatabase database, JwtIds jwtIds, CleanupOptions options, TimeProvider timeProvider, ILogger<StateCleanupService> logger)
{
    public const string States = "states";
    public const string Codes = "codes";
    public const string Tokens = "tokens";
    public const string RateLimitWindows = "rate_limit_windows";
    public const string Clients = "clients";
    public const string WebSessions = "web_sessions";
    public const string AuditRows = "audit_rows";
    public const string JwtIdRows = "jwt_ids";

    // 2,000 rows: at most 75 ms of lock per batch on 2 cores (5,000 held them up to 105 ms), so a sign-in
    // consuming a live row never waits behind cleanup for longer than its own round trip.
    internal const int BatchSize = 2_000;

    // Each statement deletes at most @batch rows and reports how many it deleted.
    private static readonly (string Kind, string Sql)[] Batches =
    [
        (States, """
            DELETE FROM mcp_oauth_state WHERE state IN (
                SELECT state FROM mcp_oauth_state WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        // Codes are kept ten minutes past expiry so a late replay is still recognised as one.
        (Codes, """
            DELETE FROM mcp_oauth_codes WHERE code_hash IN (
                SELECT code_hash FROM mcp_oauth_codes WHERE expires_at <= @now - interval '10 minutes' LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        (Tokens, """
            DELETE FROM mcp_oauth_tokens WHERE token_hash IN (
                SELECT token_hash FROM mcp_oauth_tokens WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        (RateLimitWindows, """
            DELETE FROM mcp_oauth_rate_limits WHERE (bucket, window_start) IN (
                SELECT bucket, window_start FROM mcp_oauth_rate_limits WHERE window_start < @now - interval '2 minutes'
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        (Clients, """
            DELETE FROM mcp_oauth_clients WHERE client_id IN (
                SELECT client_id FROM mcp_oauth_clients cl
                WHERE coalesce(cl.last_used_at, cl.created_at) < @now - @clientRetention
                  AND NOT EXISTS (SELECT 1 FROM mcp_oauth_connections c WHERE c.client_id = cl.client_id AND c.revoked_at IS NULL)
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        (WebSessions, """
            DELETE FROM mcp_oauth_web_sessions WHERE session_hash IN (
                SELECT session_hash FROM mcp_oauth_web_sessions WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
        (AuditRows, """
            DELETE FROM mcp_oauth_audit WHERE id IN (
                SELECT id FROM mcp_oauth_audit WHERE created_at < @now - @auditRetention LIMIT @batch FOR UPDATE SKIP LOCKED)
            """),
    ];

    public async Task<CleanupReport> RunAsync(CancellationToken cancellationToken)
    {
        MaintenanceLog.CleanupStarting(logger);
        var started = timeProvider.GetTimestamp();
        var longest = TimeSpan.Zero;
        var deleted = new Dictionary<string, long>();
        foreach (var (kind, sql) in Batches)
        {
            long total = 0;
            int count;
            do
            {
                var batchStarted = timeProvider.GetTimestamp();
                count = await DeleteBatchAsync(sql, cancellationToken);
                var batchTime = timeProvider.GetElapsedTime(batchStarted);
                longest = batchTime > longest ? batchTime : longest;
                total += count;
            }
            while (count == BatchSize);

            deleted[kind] = total;
        }

        // Its SQL is the gateway's own (Storage/JwtIds), so it runs through it, in the same batches.
        long jwtIdsDeleted = 0;
        int jwtIdBatch;
        do
        {
            jwtIdBatch = await jwtIds.DeleteExpiredAsync(timeProvider.GetUtcNow(), BatchSize, cancellationToken);
            jwtIdsDeleted += jwtIdBatch;
        }
        while (jwtIdBatch == BatchSize);

        deleted[JwtIdRows] = jwtIdsDeleted;

        var report = new CleanupReport(deleted, timeProvider.GetElapsedTime(started), longest);
        await RecordRunAsync(report, cancellationToken);
        MaintenanceLog.CleanupFinished(logger, deleted[States], deleted[Codes], deleted[Tokens], deleted[RateLimitWindows], deleted[Clients], deleted[WebSessions], deleted[AuditRows],
            deleted[JwtIdRows], (long)report.Elapsed.TotalMilliseconds, (long)report.LongestBatch.TotalMilliseconds);
        return report;
    }

    public const string JobName = "state_cleanup";

    private Task RecordRunAsync(CleanupReport report, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO mcp_maintenance_runs (job, last_run_at, last_result) VALUES (@job, @now, @result::jsonb)
                ON CONFLICT (job) DO UPDATE SET last_run_at = EXCLUDED.last_run_at, last_result = EXCLUDED.last_result
                """, connection, transaction);
            command.Parameters.AddWithValue("job", JobName);
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            command.Parameters.AddWithValue("result", System.Text.Json.JsonSerializer.Serialize(new
            {
                deleted = report.Deleted,
                elapsed_ms = (long)report.Elapsed.TotalMilliseconds,
                longest_batch_ms = (long)report.LongestBatch.TotalMilliseconds,
            }));
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    private Task<int> DeleteBatchAsync(string sql, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            command.Parameters.AddWithValue("batch", BatchSize);
            if (sql.Contains("@clientRetention", StringComparison.Ordinal))
            {
                command.Parameters.AddWithValue("clientRetention", options.ClientRetention);
            }

            if (sql.Contains("@auditRetention", StringComparison.Ordinal))
            {
                command.Parameters.AddWithValue("auditRetention", options.AuditRetention);
            }

            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
}

internal static partial class MaintenanceLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Starting background state cleanup job")]
    public static partial void CleanupStarting(ILogger logger);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information,
        Message = "State cleanup finished: deleted {States} expired state(s), {Codes} code(s), {Tokens} token(s), {Windows} rate-limit window(s), {Clients} unused client(s), {Sessions} ended web session(s), {AuditRows} old audit row(s), {JwtIds} expired JWT id(s) in {ElapsedMs} ms (longest batch {LongestBatchMs} ms)")]
    public static partial void CleanupFinished(ILogger logger, long states, long codes, long tokens, long windows, long clients, long sessions, long auditRows, long jwtIds, long elapsedMs, long longestBatchMs);
}
