using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>What `/api/health` and `doctor` say about this instance's revocation channel.</summary>
/// <param name="Status"><see cref="Hearing"/>, <see cref="Deaf"/> or <see cref="Off"/>.</param>
/// <param name="Reason">Why it is deaf or off; null while hearing.</param>
/// <param name="LastProbeHeardAt">When the listener last heard its own probe; null if never.</param>
public sealed record RevocationChannelState(string Status, string? Reason, DateTimeOffset? LastProbeHeardAt)
{
    public const string Hearing = "hearing";
    public const string Deaf = "deaf";
    public const string Off = "off";
}

/// <summary>
/// Hears every instance's revocations (PostgreSQL LISTEN on <see cref="TokenRevocation.Channel"/>)
/// and evicts the revoked tokens from this instance's cache. A LISTEN that succeeds proves nothing
/// (through a transaction-mode pooler it succeeds and never hears; a connection cut without a reset
/// waits in silence), so the listener sends itself a probe on connecting and every
/// <see cref="ProbeInterval"/>, the way revocations travel: a pg_notify in a transaction on the main
/// data source (through the pooler, if there is one), on a channel of this instance's own that the
/// same connection LISTENs to. PostgreSQL delivers notifications in commit order, so a probe heard
/// means every revocation committed before it was heard too. The access-token cache is on only
/// while the last probe came back within <see cref="ProbeTimeout"/>; otherwise it is off (every
/// request asks the database), the reason is logged once and shown by `/api/health`, and the
/// listener reconnects.
/// </summary>
public sealed partial class RevocationListener(
    DirectDatabase direct,
    NeotomaDatabase database,
    TokenRevocation revocation,
    AccessTokenCache cache,
    TimeProvider timeProvider,
    ILogger<RevocationListener> logger) : BackgroundService
{
    /// <summary>The listener connection's application_name, to find it in pg_stat_activity.</summary>
    public const string ApplicationName = "neotoma-revocation-listener";

    /// <summary>Worst case, a connection that dies silently right after a probe is noticed one interval and one timeout later: 15 s.</summary>
    internal static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(10);

    /// <summary>For sending a probe and hearing it; a round trip is milliseconds, so only a broken path takes this long.</summary>
    internal static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(10);

    private static readonly string NotHeard = $"the listener did not hear its own probe within {ProbeTimeout.TotalSeconds} s: LISTEN through a "
        + "transaction-mode pooler (PgBouncer) succeeds and never hears, and neither does a connection dropped on the way (an idle timeout)";

    /// <summary>A channel of this instance's own: its probes wake no other instance, and nothing but probes is said on it.</summary>
    private readonly string probeChannel = "neotoma_probe_" + Guid.NewGuid().ToString("N");

    private long probesSent;
    private long probeHeard;

    /// <summary>Whether this deaf spell has been logged: once per spell, not at every failed attempt.</summary>
    private bool announced;
    private volatile RevocationChannelState state = cache.Enabled
        ? new(RevocationChannelState.Deaf, "starting: the first probe has not come back yet", null)
        : new(RevocationChannelState.Off, "ACCESS_TOKEN_CACHE_SECONDS=0: there is no access-token cache, every request asks the database", null);

    public RevocationChannelState State => state;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!cache.Enabled)
        {
            return;
        }

        var backoff = new Backoff(TimeSpan.FromMilliseconds(200), MaxBackoff);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await ListenAsync(stoppingToken);
                Probe probe;
                while ((probe = await ProbeAsync(connection, stoppingToken)).Heard)
                {
                    if (!cache.Listening)
                    {
                        cache.Listening = true;
                        if (announced)
                        {
                            Resumed(logger, (int)probe.RoundTrip.TotalMilliseconds);
                            announced = false;
                        }
                    }

                    state = new(RevocationChannelState.Hearing, null, timeProvider.GetUtcNow());
                    backoff.Reset();
                    await HearUntilAsync(connection, After(ProbeInterval), stoppingToken);
                }

                if (probe.NotSent is { } why)
                {
                    GoDeaf($"the probe could not be sent through DATABASE_CONNECTION_STRING ({why})", () => Lost(logger, "probe not sent: " + why));
                }
                else
                {
                    GoDeaf(NotHeard, () => ProbeNotHeard(logger, (int)ProbeTimeout.TotalSeconds));
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (IsConnectionFailure(e))
            {
                var reason = Describe(e);
                GoDeaf($"the listener's connection failed ({reason})", () => Lost(logger, reason));
            }

            try
            {
                await Task.Delay(backoff.Next(), stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }

        }

        cache.Listening = false;
    }

    /// <summary>
    /// A session of its own on the direct data source's server (never a pooled one: a connection that
    /// stopped hearing must be closed, not handed back), named in pg_stat_activity, with TCP keepalive
    /// so that the kernel ends a connection whose peer vanished and keeps idle-timeout devices from
    /// dropping it. No application-level keepalive: the probe is that check, and a keepalive query
    /// through a pooler would tie this client to a server connection now and then.
    /// </summary>
    private async Task<NpgsqlConnection> ListenAsync(CancellationToken stoppingToken)
    {
        var settings = new NpgsqlConnectionStringBuilder(direct.DataSource.ConnectionString)
        {
            ApplicationName = ApplicationName,
            Pooling = false,
            Timeout = (int)ProbeTimeout.TotalSeconds,
            CommandTimeout = (int)ProbeTimeout.TotalSeconds,
            TcpKeepAlive = true,
            TcpKeepAliveTime = 5,
            TcpKeepAliveInterval = 1,
        };
        // CloneWith keeps the data source's password (an Entra token included) and TLS callbacks.
        await using var template = direct.DataSource.CreateConnection();
        var connection = await template.CloneWithAsync(settings.ConnectionString, stoppingToken);
        try
        {
            connection.Notification += OnNotification;
            await connection.OpenAsync(stoppingToken);
            await using var listen = new NpgsqlCommand($"LISTEN {TokenRevocation.Channel}; LISTEN {probeChannel}", connection);
            await listen.ExecuteNonQueryAsync(stoppingToken);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends a probe as a revocation is sent and waits for it to come back.</summary>
    private async Task<Probe> ProbeAsync(NpgsqlConnection connection, CancellationToken stoppingToken)
    {
        var sequence = ++probesSent;
        var started = Stopwatch.GetTimestamp();
        var deadline = After(ProbeTimeout);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(ProbeTimeout);
            await database.InTransactionAsync(DbScope.OAuth, async (notifying, transaction) =>
            {
                await using var notify = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", notifying, transaction);
                notify.Parameters.AddWithValue("channel", probeChannel);
                notify.Parameters.AddWithValue("payload", sequence.ToString(CultureInfo.InvariantCulture));
                await notify.ExecuteNonQueryAsync(timeout.Token);
            }, timeout.Token);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested && IsConnectionFailure(e))
        {
            // The main data source is slow or down: nothing is proven either way.
            return new Probe(false, Stopwatch.GetElapsedTime(started), Describe(e));
        }

        await HearUntilAsync(connection, deadline, stoppingToken, () => Interlocked.Read(ref probeHeard) >= sequence);
        return new Probe(Interlocked.Read(ref probeHeard) >= sequence, Stopwatch.GetElapsedTime(started), null);
    }

    /// <summary>
    /// Delivers notifications until the deadline (or until <paramref name="done"/>). Stopwatch time, not
    /// the injected clock: these are waits on a socket, and a test's frozen clock must not stop probing.
    /// </summary>
    private static async Task HearUntilAsync(NpgsqlConnection connection, long deadline, CancellationToken stoppingToken, Func<bool>? done = null)
    {
        while (done?.Invoke() != true)
        {
            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                return;
            }

            // At least 1 ms: Npgsql reads a wait of 0 ms as "no time-out", and a wait that never ends is a
            // listener that never finds out it stopped hearing (seen as "hearing" on a stalled path).
            await connection.WaitAsync(TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(left * 1000.0 / Stopwatch.Frequency))), stoppingToken);
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (e.Channel == TokenRevocation.Channel)
        {
            revocation.OnNotified(e.Payload);
        }
        else if (e.Channel == probeChannel && long.TryParse(e.Payload, NumberStyles.None, CultureInfo.InvariantCulture, out var sequence)
                 && sequence > Interlocked.Read(ref probeHeard))
        {
            Interlocked.Exchange(ref probeHeard, sequence);
        }
    }

    private static long After(TimeSpan span) => Stopwatch.GetTimestamp() + (long)(span.TotalSeconds * Stopwatch.Frequency);

    private static bool IsConnectionFailure(Exception e) =>
        e is NpgsqlException or IOException or SocketException or TimeoutException or InvalidOperationException or OperationCanceledException;

    /// <summary>For the log and /api/health: the kind of failure (and PostgreSQL's code), never a host or a message that could carry one.</summary>
    private static string Describe(Exception e) => e switch
    {
        OperationCanceledException => $"no answer within {ProbeTimeout.TotalSeconds} s",
        PostgresException postgres => $"{nameof(PostgresException)} {postgres.SqlState}",
        _ => e.GetType().Name,
    };

    /// <summary>The cache goes off at once; the reason is logged once per deaf spell.</summary>
    private void GoDeaf(string reason, Action log)
    {
        if (cache.Listening)
        {
            cache.Listening = false;
        }

        state = new(RevocationChannelState.Deaf, reason, state.LastProbeHeardAt);
        if (!announced)
        {
            log();
            announced = true;
        }
    }

    /// <summary>What one probe found: heard within the timeout (and how fast), not heard, or not even sent (and why).</summary>
    private readonly record struct Probe(bool Heard, TimeSpan RoundTrip, string? NotSent);

    [LoggerMessage(EventId = 260, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Lost the revocation channel ({Reason}); the access-token cache is off until it is back")]
    private static partial void Lost(ILogger logger, string reason);

    [LoggerMessage(EventId = 261, Level = LogLevel.Information,
        Message = "[MCP OAuth] Revocation channel is back (probe heard in {Milliseconds} ms); the access-token cache is on")]
    private static partial void Resumed(ILogger logger, int milliseconds);

    [LoggerMessage(EventId = 262, Level = LogLevel.Warning,
        Message = "[MCP OAuth] The revocation listener did not hear its own probe within {Seconds} s; the access-token cache is off until it does. "
            + "LISTEN through a transaction-mode pooler never hears: set DATABASE_DIRECT_CONNECTION_STRING to the server's direct port")]
    private static partial void ProbeNotHeard(ILogger logger, int seconds);
}
