using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Sends the provider the revocations <see cref="TokenRevocation"/> queued in
/// <c>mcp_oauth_upstream_revocations</c>. The queue row commits with the revocation, so nothing is
/// lost to a crash; the instance that revoked sends it as soon as the revoking transaction commits,
/// and whatever is left (a crash between the two, a retry that is due) is sent by any instance's
/// minute-long wait and by the 5-minute timer. Rows are claimed with SKIP LOCKED and a lease, so
/// instances never send one twice at once. A provider that does not answer is asked again with
/// a growing pause (1, 2, 4 ... 60 minutes), 10 times at most; one that refuses, or offers no
/// revocation endpoint, is not asked again.
/// </summary>
public sealed partial class UpstreamRevocations(
    NeotomaDatabase database,
    UpstreamIdentityProvider upstream,
    TokenCipher cipher,
    TimeProvider timeProvider,
    ILogger<UpstreamRevocations> logger) : BackgroundService
{
    public const int MaxAttempts = 10;

    private const int BatchSize = 20;

    /// <summary>How long a claimed row is left to the instance that claimed it before another may try it.</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(2);

    private static readonly TimeSpan IdleWait = TimeSpan.FromMinutes(1);

    private readonly Channel<bool> wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>
    /// Queues a token the caller's (revoking) transaction just took from its holder for revocation at the
    /// provider, to be sent as soon as that transaction commits; but only when <paramref name="userId"/> holds
    /// no other upstream token. A provider's grant is often shared: oidc-provider and Keycloak give every
    /// sign-in of one browser session the same grant, Google one per person and client, and revoking a
    /// refresh token revokes the whole grant, so revoking one holder's token would end the person's other
    /// connections and sign-ins there. A token kept simply expires at the provider. The last holder's
    /// revocation is queued, and every holder's when the person revokes everything
    /// (<paramref name="onlyIfLastHolder"/> false). <paramref name="heldBy"/> is for the logs ("connection: conn_…").
    /// </summary>
    internal async Task QueueAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string encryptedToken, string tokenTypeHint, string heldBy,
        DateTimeOffset now, bool onlyIfLastHolder, CancellationToken cancellationToken)
    {
        if (onlyIfLastHolder && await UpstreamRevocationStore.PersonHoldsUpstreamTokenAsync(transaction, userId, cancellationToken))
        {
            Kept(logger, heldBy);
            return;
        }

        await UpstreamRevocationStore.EnqueueAsync(transaction, encryptedToken, tokenTypeHint, heldBy, now, cancellationToken);
        NeotomaDatabase.AfterCommit(transaction, () => wake.Writer.TryWrite(true));
    }

    /// <summary>Sends every queued revocation that is due; how many the provider accepted.</summary>
    public async Task<int> SendDueAsync(CancellationToken cancellationToken)
    {
        var revoked = 0;
        while (true)
        {
            var claimed = await ClaimAsync(cancellationToken);
            foreach (var row in claimed)
            {
                revoked += await SendAsync(row, cancellationToken) ? 1 : 0;
            }

            if (claimed.Count < BatchSize)
            {
                return revoked;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                idle.CancelAfter(IdleWait);
                await wake.Reader.WaitToReadAsync(idle.Token);
                wake.Reader.TryRead(out _);
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                // A minute without a wake-up: look for retries that are due.
            }
            catch (OperationCanceledException)
            {
                break;
            }

            try
            {
                await SendDueAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                // The rows wait in the database for the next wake-up or the timer, whatever went wrong (the
                // database down, usually): a background service that throws would stop its host.
                Postponed(logger, e.GetType().Name);
            }
        }
    }

    /// <summary>Claims due rows for <see cref="Lease"/> (counting the attempt), so no other instance sends them meanwhile.</summary>
    private Task<List<QueuedRevocation>> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        return UpstreamRevocationStore.ClaimDueAsync(database, now, now + Lease, BatchSize, cancellationToken);
    }

    private async Task<bool> SendAsync(QueuedRevocation row, CancellationToken cancellationToken)
    {
        if (cipher.TryDecrypt(row.Token) is not { } token)
        {
            Dropped(logger, row.HeldBy, "it cannot be decrypted with the current key");
            await UpstreamRevocationStore.DeleteAsync(database, row.Id, cancellationToken);
            return false;
        }

        var result = await upstream.RevokeAsync(token, row.TokenTypeHint, cancellationToken);
        if (result == UpstreamRevocationResult.Unavailable && row.Attempts < MaxAttempts)
        {
            var pause = Backoff.After(row.Attempts, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(60));
            Retrying(logger, row.HeldBy, row.Attempts, (int)pause.TotalMinutes);
            await UpstreamRevocationStore.PostponeAsync(database, row.Id, timeProvider.GetUtcNow() + pause, cancellationToken);
            return false;
        }

        switch (result)
        {
            case UpstreamRevocationResult.Revoked:
                Revoked(logger, row.TokenTypeHint == "refresh_token" ? "refresh" : "access", row.HeldBy);
                break;
            case UpstreamRevocationResult.NotOffered:
                NotOffered(logger, row.HeldBy);
                break;
            case UpstreamRevocationResult.Refused:
                Dropped(logger, row.HeldBy, "the provider refused the revocation request");
                break;
            default:
                Dropped(logger, row.HeldBy, $"the provider did not answer {MaxAttempts} attempts");
                break;
        }

        await UpstreamRevocationStore.DeleteAsync(database, row.Id, cancellationToken);
        return result == UpstreamRevocationResult.Revoked;
    }

    [LoggerMessage(EventId = 270, Level = LogLevel.Information, Message = "[MCP OAuth] Revoked the upstream {Kind} token of {HeldBy}")]
    private static partial void Revoked(ILogger logger, string kind, string heldBy);

    [LoggerMessage(EventId = 271, Level = LogLevel.Warning,
        Message = "[MCP OAuth] The provider did not answer the revocation of the upstream token of {HeldBy} (attempt {Attempt}); trying again in {Minutes} min")]
    private static partial void Retrying(ILogger logger, string heldBy, int attempt, int minutes);

    [LoggerMessage(EventId = 272, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Gave up revoking the upstream token of {HeldBy} at the provider: {Reason}")]
    private static partial void Dropped(ILogger logger, string heldBy, string reason);

    [LoggerMessage(EventId = 274, Level = LogLevel.Information,
        Message = "[MCP OAuth] The provider offers no revocation endpoint: the upstream token of {HeldBy} lives until it expires there")]
    private static partial void NotOffered(ILogger logger, string heldBy);

    [LoggerMessage(EventId = 275, Level = LogLevel.Information,
        Message = "[MCP OAuth] Kept the upstream token of {HeldBy} at the provider, where it expires: the person's other connections or sign-ins may share its grant, and revoking it would end them")]
    private static partial void Kept(ILogger logger, string heldBy);

    [LoggerMessage(EventId = 273, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Upstream revocations wait for the database ({Reason}); they are sent when it answers")]
    private static partial void Postponed(ILogger logger, string reason);
}
