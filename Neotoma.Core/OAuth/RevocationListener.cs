using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Hears every instance's revocations (PostgreSQL LISTEN on <see cref="TokenRevocation.Channel"/>)
/// and evicts the revoked tokens from this instance's cache, so a token revoked anywhere is refused
/// everywhere within milliseconds. While the connection is down the cache is off (every request
/// asks the database) and it is cleared when listening resumes, since notifications sent meanwhile are lost.
/// </summary>
public sealed partial class RevocationListener(
    NpgsqlDataSource dataSource, TokenRevocation revocation, AccessTokenCache cache, ILogger<RevocationListener> logger) : BackgroundService
{
    /// <summary>How long to wait for a notification before checking that the connection still answers.</summary>
    private static readonly TimeSpan LivenessCheck = TimeSpan.FromSeconds(30);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = TimeSpan.FromMilliseconds(200);
        var lost = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                connection.Notification += (_, e) => revocation.OnNotified(e.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {TokenRevocation.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }

                cache.Listening = true;
                if (lost)
                {
                    Resumed(logger);
                    lost = false;
                }

                backoff = TimeSpan.FromMilliseconds(200);
                while (true)
                {
                    if (!await connection.WaitAsync(LivenessCheck, stoppingToken))
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(stoppingToken);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or SocketException or TimeoutException or InvalidOperationException)
            {
                cache.Listening = false;
                if (!lost)
                {
                    Lost(logger, e.GetType().Name);
                    lost = true;
                }
            }

            try
            {
                await Task.Delay(backoff, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
        }

        cache.Listening = false;
    }

    [LoggerMessage(EventId = 260, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Lost the revocation channel ({Reason}); the access-token cache is off until it is back")]
    private static partial void Lost(ILogger logger, string reason);

    [LoggerMessage(EventId = 261, Level = LogLevel.Information, Message = "[MCP OAuth] Revocation channel is back; the access-token cache is on")]
    private static partial void Resumed(ILogger logger);
}
