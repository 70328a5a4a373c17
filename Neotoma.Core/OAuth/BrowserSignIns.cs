using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>How long a web session of the connections page lives; a browser sign-in without a refresh token lives as long as the longest.</summary>
public sealed record WebSessionOptions
{
    /// <summary>A session unused this long ends.</summary>
    public TimeSpan IdleLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>A session ends this long after sign-in however busy it is, so a stolen cookie does not live forever.</summary>
    public TimeSpan AbsoluteLifetime { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>Why a browser sign-in ended.</summary>
public enum SignInEnd
{
    /// <summary>The provider refused its refresh token: the person was signed out, disabled or removed there.</summary>
    ProviderRefused,

    /// <summary>It reached its absolute lifetime (it holds no refresh token to ask the provider with).</summary>
    Expired,

    /// <summary>No web session and no live connection uses it any more.</summary>
    Unused,

    /// <summary>The person pressed Revoke all (its provider token is revoked there whatever else the person holds: nothing else is left).</summary>
    RevokedByPerson,
}

/// <summary>What one pass of <see cref="BrowserSignIns.RecheckAsync"/> did.</summary>
public sealed record SignInRecheck(int Confirmed, int Refused, int Expired, int Unused, int Postponed);

/// <summary>
/// A person's sign-in at the provider in a browser (<c>mcp_oauth_browser_sign_ins</c>), which bounds
/// what that browser does: its web sessions, and the connections it makes without the provider (from a
/// remembered approval, or a personal token). A sign-in on the connections page keeps the provider's
/// tokens, encrypted, and is re-checked with the provider on the connections' schedule (when its
/// upstream access token is due, from the 5-minute timer); when the provider refuses, everything the
/// sign-in bounds ends. A sign-in without a refresh token (one made with an MCP client's connection,
/// which holds the provider's tokens itself, or a provider that issues none) ends at the web
/// session's absolute lifetime instead, and so does what it made.
/// Lock order: the sign-in's row, then its connections' rows (in id order); nothing locks the other way.
/// </summary>
public sealed partial class BrowserSignIns(
    NeotomaDatabase database,
    UpstreamSessionRefresher upstreamSession,
    TokenCipher cipher,
    TokenRevocation revocation,
    UpstreamRevocations upstreamRevocations,
    AuditLog audit,
    WebSessionOptions sessionOptions,
    OAuthServerOptions serverOptions,
    TimeProvider timeProvider,
    ILogger<BrowserSignIns> logger)
{
    /// <summary>A sign-in this young is not yet "unused": its web session is started in the next transaction.</summary>
    private static readonly TimeSpan UnusedGrace = TimeSpan.FromMinutes(5);

    /// <summary>Starts a sign-in for <paramref name="userId"/>; with the provider's tokens when this sign-in is the one that holds them.</summary>
    public async Task<string> StartAsync(string userId, UpstreamTokens? tokens, CancellationToken cancellationToken)
    {
        var signInId = "signin_" + OpaqueToken.New(16);
        var now = timeProvider.GetUtcNow();
        // Without a refresh token there is nothing to ask the provider with: the sign-in keeps no tokens and has an end.
        var refresh = tokens?.RefreshToken;
        await BrowserSignInStore.InsertAsync(database, signInId, userId,
            refresh is null ? null : new StoredUpstreamTokens(cipher.Encrypt(refresh), cipher.Encrypt(tokens!.AccessToken), tokens.AccessTokenExpiresAt),
            now, refresh is null ? now + sessionOptions.AbsoluteLifetime : null, cancellationToken);
        return signInId;
    }

    /// <summary>
    /// Holds a live sign-in for the rest of the caller's transaction, which then makes a connection bound
    /// to it: a sign-in being ended meanwhile is waited for (so what the transaction makes cannot escape
    /// the end). Its absolute end, if it has one; throws when it has ended.
    /// </summary>
    internal static async Task<DateTimeOffset?> HoldAsync(NpgsqlTransaction transaction, string signInId, CancellationToken cancellationToken) =>
        await BrowserSignInStore.ShareAsync(transaction, signInId, cancellationToken) is (true, var expiresAt)
            ? expiresAt
            : throw new OAuthException(OAuthErrorCode.OAUTH_WEB_SESSION_ENDED,
                "You are signed out (or your session ended); nothing was changed. Open the connections page and sign in again.");

    /// <summary>
    /// The timer's pass: ends sign-ins that expired or that nothing uses any more, and asks the provider
    /// about every sign-in whose upstream access token is due. A provider that does not answer changes
    /// nothing (asked again on the next pass).
    /// </summary>
    public async Task<SignInRecheck> RecheckAsync(CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var expired = await EndEachAsync(await BrowserSignInStore.ExpiredAsync(database, now, cancellationToken), SignInEnd.Expired, cancellationToken);
        var unused = await EndEachAsync(await BrowserSignInStore.UnusedAsync(database, now, UnusedGrace, sessionOptions.AbsoluteLifetime, cancellationToken),
            SignInEnd.Unused, cancellationToken);

        var due = await BrowserSignInStore.DueAsync(database, now, serverOptions.UpstreamRefreshMargin, cancellationToken);
        int confirmed = 0, refused = 0, postponed = 0;
        foreach (var (signInId, userId) in due)
        {
            switch (await RecheckOneAsync(signInId, cancellationToken))
            {
                case true:
                    confirmed++;
                    break;
                case false:
                    refused++;
                    // Written once the end committed, so a rolled-back end leaves no audit row behind.
                    await audit.WriteAsync(new AuditEntry(AuditEvents.ProviderEndedSignIn, UserId: userId, Success: false,
                        ErrorCode: OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED), cancellationToken);
                    break;
                default:
                    postponed++;
                    break;
            }
        }

        var report = new SignInRecheck(confirmed, refused, expired, unused, postponed);
        if (report != new SignInRecheck(0, 0, 0, 0, 0))
        {
            Rechecked(logger, confirmed, refused, expired, unused, postponed);
        }

        return report;
    }

    /// <summary>Revoke all: every live sign-in of the person ends, with its sessions and what it made, and its provider tokens are revoked there.</summary>
    public async Task EndAllAsync(string userId, CancellationToken cancellationToken)
    {
        foreach (var (signInId, _) in await BrowserSignInStore.LiveOfAsync(database, userId, cancellationToken))
        {
            await EndOneAsync(signInId, SignInEnd.RevokedByPerson, cancellationToken);
        }
    }

    /// <summary>True: the provider still honours it (tokens rotated). False: refused, so it ended. Null: not asked (busy elsewhere, or the provider did not answer).</summary>
    private Task<bool?> RecheckOneAsync(string signInId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            if (await BrowserSignInStore.LockLiveAsync(transaction, signInId, skipLocked: true, cancellationToken) is not (var userId, { } encryptedRefresh))
            {
                return (bool?)null;
            }

            try
            {
                await upstreamSession.RefreshAsync(transaction, BrowserSignInStore.Upstream, signInId, encryptedRefresh, cancellationToken);
                return true;
            }
            catch (OAuthException e) when (e.Code == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED)
            {
                // The provider refused it, or it can no longer be read: nothing can ask the provider for this sign-in any more.
                await EndAsync(connection, transaction, signInId, userId, SignInEnd.ProviderRefused, cancellationToken);
                return false;
            }
            catch (OAuthException e)
            {
                RecheckPostponed(logger, signInId, e.Code.ToString());
                return null;
            }
        }, cancellationToken);

    private async Task<int> EndEachAsync(List<(string SignInId, string UserId)> signIns, SignInEnd reason, CancellationToken cancellationToken)
    {
        var ended = 0;
        foreach (var (signInId, _) in signIns)
        {
            ended += await EndOneAsync(signInId, reason, cancellationToken) ? 1 : 0;
        }

        return ended;
    }

    private Task<bool> EndOneAsync(string signInId, SignInEnd reason, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            if (await BrowserSignInStore.LockLiveAsync(transaction, signInId, skipLocked: false, cancellationToken) is not var (userId, _))
            {
                return false;
            }

            await EndAsync(connection, transaction, signInId, userId, reason, cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>
    /// Ends a sign-in whose row the caller's transaction has locked: its web sessions end, the connections
    /// it made are revoked through <see cref="TokenRevocation"/>, and its refresh token is queued for
    /// revocation at the provider (unless the provider just refused it).
    /// </summary>
    private async Task EndAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string signInId, string userId, SignInEnd reason, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var encryptedRefresh = await BrowserSignInStore.EndAsync(transaction, signInId, now, cancellationToken);
        if (encryptedRefresh is not null && reason != SignInEnd.ProviderRefused)
        {
            await upstreamRevocations.QueueAsync(connection, transaction, userId, encryptedRefresh, "refresh_token", "browser sign-in: " + signInId, now,
                onlyIfLastHolder: reason != SignInEnd.RevokedByPerson, cancellationToken);
        }

        await WebSessionStore.DeleteOfSignInAsync(transaction, signInId, cancellationToken);
        var made = await revocation.RevokeConnectionsAsync(connection, transaction, await GrantStore.LockMadeByAsync(transaction, signInId, cancellationToken),
            RevocationReason.SignInEnded, cancellationToken);
        SignInEnded(logger, signInId, reason, made);
    }

    [LoggerMessage(EventId = 404, Level = LogLevel.Information,
        Message = "[MCP OAuth] Browser sign-in {SignInId} ended ({Reason}); its web sessions ended and {Connections} connection(s) it made were revoked")]
    private static partial void SignInEnded(ILogger logger, string signInId, SignInEnd reason, int connections);

    [LoggerMessage(EventId = 405, Level = LogLevel.Warning,
        Message = "[MCP OAuth] Could not re-check browser sign-in {SignInId} with the provider ({ErrorCode}); asking again on the next run")]
    private static partial void RecheckPostponed(ILogger logger, string signInId, string errorCode);

    [LoggerMessage(EventId = 406, Level = LogLevel.Information,
        Message = "[MCP OAuth] Browser sign-ins re-checked: {Confirmed} confirmed by the provider, {Refused} refused (ended), {Expired} expired, {Unused} unused, {Postponed} postponed")]
    private static partial void Rechecked(ILogger logger, int confirmed, int refused, int expired, int unused, int postponed);
}
