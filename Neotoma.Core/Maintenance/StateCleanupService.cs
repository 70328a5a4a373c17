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
    public TimeSpan ClientRetention { get; set; } = TimeSpan.FromDays(90);

    /// <summary>Audit rows older than this are deleted (AUDIT_RETENTION_DAYS).</summary>
    public TimeSpan AuditRetention { get; set; } = TimeSpan.FromDays(90);
}

/// <summary>
/// Deletes what has expired: OAuth states, authorization codes, tokens, rate-limit windows and
/// long-unused client registrations. Runs from the 5-minute timer. Deletes in small batches,
/// each its own short transaction with SKIP LOCKED, so a backlog of millions never holds
/// locks that stall sign-ins consuming live rows at the same time.
/// </summary>
public sealed class StateCleanupService(
    NeotomaDatabase database, CleanupOptions options, TimeProvider timeProvider, ILogger<StateCleanupService> logger)
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

    /// <summary>What each batch deletes: at most <see cref="BatchSize"/> rows, skipping rows a sign-in holds, and how many it deleted.</summary>
    private (string Kind, Func<NpgsqlTransaction, DateTimeOffset, CancellationToken, Task<int>> Delete)[] Batches =>
    [
        (States, (transaction, now, ct) => AuthorizationStateStore.DeleteExpiredAsync(transaction, now, BatchSize, ct)),
        (Codes, (transaction, now, ct) => CodeStore.DeleteExpiredAsync(transaction, now, BatchSize, ct)),
        (Tokens, (transaction, now, ct) => GrantStore.DeleteExpiredTokensAsync(transaction, now, BatchSize, ct)),
        (RateLimitWindows, (transaction, now, ct) => RateLimitStore.DeleteOldAsync(transaction, now, BatchSize, ct)),
        (Clients, (transaction, now, ct) => ClientStore.DeleteUnusedAsync(transaction, now, options.ClientRetention, BatchSize, ct)),
        (WebSessions, (transaction, now, ct) => WebSessionStore.DeleteExpiredAsync(transaction, now, BatchSize, ct)),
        (AuditRows, (transaction, now, ct) => AuditStore.DeleteOldAsync(transaction, now, options.AuditRetention, BatchSize, ct)),
        (JwtIdRows, (transaction, now, ct) => JwtIdStore.DeleteExpiredAsync(transaction, now, BatchSize, ct)),
    ];

    public async Task<CleanupReport> RunAsync(CancellationToken cancellationToken)
    {
        MaintenanceLog.CleanupStarting(logger);
        var started = timeProvider.GetTimestamp();
        var longest = TimeSpan.Zero;
        var deleted = new Dictionary<string, long>();
        foreach (var (kind, delete) in Batches)
        {
            long total = 0;
            int count;
            do
            {
                var batchStarted = timeProvider.GetTimestamp();
                count = await database.InTransactionAsync(DbScope.OAuth, (_, transaction) => delete(transaction, timeProvider.GetUtcNow(), cancellationToken), cancellationToken);
                var batchTime = timeProvider.GetElapsedTime(batchStarted);
                longest = batchTime > longest ? batchTime : longest;
                total += count;
            }
            while (count == BatchSize);

            deleted[kind] = total;
        }

        var report = new CleanupReport(deleted, timeProvider.GetElapsedTime(started), longest);
        await RecordRunAsync(report, cancellationToken);
        MaintenanceLog.CleanupFinished(logger, deleted[States], deleted[Codes], deleted[Tokens], deleted[RateLimitWindows], deleted[Clients], deleted[WebSessions], deleted[AuditRows],
            deleted[JwtIdRows], (long)report.Elapsed.TotalMilliseconds, (long)report.LongestBatch.TotalMilliseconds);
        return report;
    }

    public const string JobName = "state_cleanup";

    private Task RecordRunAsync(CleanupReport report, CancellationToken cancellationToken) =>
        MaintenanceRunStore.RecordAsync(database, JobName, timeProvider.GetUtcNow(), System.Text.Json.JsonSerializer.Serialize(new
        {
            deleted = report.Deleted,
            elapsed_ms = (long)report.Elapsed.TotalMilliseconds,
            longest_batch_ms = (long)report.LongestBatch.TotalMilliseconds,
        }), cancellationToken);
}

internal static partial class MaintenanceLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Starting background state cleanup job")]
    public static partial void CleanupStarting(ILogger logger);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information,
        Message = "State cleanup finished: deleted {States} expired state(s), {Codes} code(s), {Tokens} token(s), {Windows} rate-limit window(s), {Clients} unused client(s), {Sessions} ended web session(s), {AuditRows} old audit row(s), {JwtIds} expired JWT id(s) in {ElapsedMs} ms (longest batch {LongestBatchMs} ms)")]
    public static partial void CleanupFinished(ILogger logger, long states, long codes, long tokens, long windows, long clients, long sessions, long auditRows, long jwtIds, long elapsedMs, long longestBatchMs);
}
