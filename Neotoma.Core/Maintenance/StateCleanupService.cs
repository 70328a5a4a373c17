using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Maintenance;

public sealed record CleanupReport(long ExpiredStates, TimeSpan Elapsed, TimeSpan LongestBatch);

/// <summary>
/// Deletes expired OAuth state. Runs from the 5-minute timer. Deletes in small batches, each
/// its own short transaction, so a large backlog never holds row locks long enough to stall
/// sign-ins that are consuming live states at the same time.
/// </summary>
public sealed class StateCleanupService(NeotomaDatabase database, TimeProvider timeProvider, ILogger<StateCleanupService> logger)
{
    internal const int BatchSize = 5_000;

    public async Task<CleanupReport> RunAsync(CancellationToken cancellationToken)
    {
        MaintenanceLog.CleanupStarting(logger);
        var started = timeProvider.GetTimestamp();
        var longest = TimeSpan.Zero;
        long deleted = 0;
        while (true)
        {
            var batchStarted = timeProvider.GetTimestamp();
            var count = await DeleteExpiredStatesBatchAsync(cancellationToken);
            var batchTime = timeProvider.GetElapsedTime(batchStarted);
            longest = batchTime > longest ? batchTime : longest;
            deleted += count;
            if (count < BatchSize)
            {
                break;
            }
        }

        var report = new CleanupReport(deleted, timeProvider.GetElapsedTime(started), longest);
        MaintenanceLog.CleanupFinished(logger, report.ExpiredStates, (long)report.Elapsed.TotalMilliseconds, (long)report.LongestBatch.TotalMilliseconds);
        return report;
    }

    private Task<int> DeleteExpiredStatesBatchAsync(CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            // SKIP LOCKED: a state that a callback is consuming right now is that callback's business.
            await using var command = new NpgsqlCommand(
                """
                DELETE FROM mcp_oauth_state
                WHERE state IN (
                    SELECT state FROM mcp_oauth_state
                    WHERE expires_at <= @now
                    ORDER BY expires_at
                    LIMIT @batch
                    FOR UPDATE SKIP LOCKED)
                """, connection, transaction);
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            command.Parameters.AddWithValue("batch", BatchSize);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
}

internal static partial class MaintenanceLog
{
    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Starting background state cleanup job")]
    public static partial void CleanupStarting(ILogger logger);

    [LoggerMessage(EventId = 301, Level = LogLevel.Information,
        Message = "State cleanup finished: deleted {ExpiredStates} expired state(s) in {ElapsedMs} ms (longest batch {LongestBatchMs} ms)")]
    public static partial void CleanupFinished(ILogger logger, long expiredStates, long elapsedMs, long longestBatchMs);
}
