using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// Brings the schema up to date when the app starts, without blocking start-up: while the
/// database is unreachable it logs one line per attempt and retries with backoff, so
/// <c>/api/health</c> can answer 503 meanwhile instead of the process crash-looping.
/// </summary>
public sealed class MigrationHostedService(
    DatabaseMigrator migrator,
    DatabaseOptions options,
    TimeProvider timeProvider,
    ILogger<MigrationHostedService> logger) : BackgroundService
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.MigrateOnStartup)
        {
            return;
        }

        var backoff = new Backoff(TimeSpan.FromSeconds(1), MaxDelay);
        for (var attempt = 1; !stoppingToken.IsCancellationRequested; attempt++)
        {
            try
            {
                var outcome = await migrator.MigrateAsync(stoppingToken);
                StorageLog.DatabaseMigrated(logger, options.Describe(), outcome.Applied.Count, outcome.CurrentVersion);
                return;
            }
            catch (MigrationFailedException e)
            {
                // Retrying a broken script cannot help; health keeps reporting the pending version.
                StorageLog.MigrationFailed(logger, e.File, e.InnerException?.Message ?? e.Message);
                return;
            }
            catch (Exception e) when (DatabaseOutage.Is(e) && !stoppingToken.IsCancellationRequested)
            {
                var delay = backoff.Next();
                StorageLog.DatabaseUnreachable(logger, options.Describe(), Describe(e), (int)delay.TotalSeconds, attempt);
                await Task.Delay(delay, timeProvider, stoppingToken);
            }
        }
    }

    internal static string Describe(Exception e) => e switch
    {
        PostgresException postgres => $"{postgres.SqlState} {postgres.MessageText}",
        { InnerException: SocketException socket } => socket.SocketErrorCode.ToString(),
        _ => e.Message,
    };
}
