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
    UpstreamIdentityProvider upstream,
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
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var insert = new NpgsqlCommand("""
                INSERT INTO mcp_oauth_browser_sign_ins (sign_in_id, user_id, refresh_token, upstream_access_token, upstream_access_token_expires_at,
                    created_at, expires_at)
                VALUES (@id, @user, @refresh, @access, @accessExpires, @now, @expires)
                """, connection, transaction);
            insert.Parameters.AddWithValue("id", signInId);
            insert.Parameters.AddWithValue("user", userId);
            insert.Parameters.AddWithValue("refresh", refresh is null ? DBNull.Value : cipher.Encrypt(refresh));
            insert.Parameters.AddWithValue("access", refresh is null ? DBNull.Value : cipher.Encrypt(tokens!.AccessToken));
            insert.Parameters.AddWithValue("accessExpires", refresh is null ? DBNull.Value : tokens!.AccessTokenExpiresAt);
            insert.Parameters.AddWithValue("now", now);
            insert.Parameters.AddWithValue("expires", refresh is null ? now + sessionOptions.AbsoluteLifetime : DBNull.Value);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
        return signInId;
    }

    /// <summary>
    /// Holds a live sign-in for the rest of the caller's transaction, which then makes a connection bound
    /// to it: a sign-in being ended meanwhile is waited for (so what the transaction makes cannot escape
    /// the end). Its absolute end, if it has one; throws when it has ended.
    /// </summary>
    internal static async Task<DateTimeOffset?> HoldAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string signInId, CancellationToken cancellationToken)
    {
        await using var hold = new NpgsqlCommand(
            "SELECT expires_at FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id AND ended_at IS NULL FOR SHARE", connection, transaction);
        hold.Parameters.AddWithValue("id", signInId);
        await using var reader = await hold.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_WEB_SESSION_ENDED,
                "You are signed out (or your session ended); nothing was changed. Open the connections page and sign in again.");
        }

        return reader.IsDBNull(0) ? null : reader.GetFieldValue<DateTimeOffset>(0);
    }

    /// <summary>
    /// Shares the sign-in that made a connection (none for a client's own sign-in) for the rest of the
    /// caller's transaction, before the caller locks the connection: ending a sign-in locks it first, then
    /// its connections, so taking them in the same order keeps the two from deadlocking.
    /// </summary>
    internal static async Task ShareOfConnectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        await using var share = new NpgsqlCommand("""
            SELECT 1 FROM mcp_oauth_browser_sign_ins
            WHERE sign_in_id = (SELECT sign_in_id FROM mcp_oauth_connections WHERE connection_id = @id) FOR SHARE
            """, connection, transaction);
        share.Parameters.AddWithValue("id", connectionId);
        await share.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The timer's pass: ends sign-ins that expired or that nothing uses any more, and asks the provider
    /// about every sign-in whose upstream access token is due. A provider that does not answer changes
    /// nothing (asked again on the next pass).
    /// </summary>
    public async Task<SignInRecheck> RecheckAsync(CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var expired = await EndEachAsync("expires_at <= @now", now, SignInEnd.Expired, cancellationToken);
        var unused = await EndEachAsync("""
            created_at < @now - @grace
            AND NOT EXISTS (SELECT 1 FROM mcp_oauth_web_sessions w WHERE w.sign_in_id = s.sign_in_id AND w.expires_at > @now AND w.created_at > @now - @absolute)
            AND NOT EXISTS (SELECT 1 FROM mcp_oauth_connections c WHERE c.sign_in_id = s.sign_in_id AND c.revoked_at IS NULL
                            AND (c.pending OR EXISTS (SELECT 1 FROM mcp_oauth_tokens t
                                                      WHERE t.connection_id = c.connection_id AND t.revoked_at IS NULL AND t.expires_at > @now)))
            """, now, SignInEnd.Unused, cancellationToken);

        var due = await LiveAsync("refresh_token IS NOT NULL AND upstream_access_token_expires_at <= @now + @margin", now, cancellationToken);
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
        var live = await database.QueryListAsync(DbScope.OAuth,
            "SELECT sign_in_id FROM mcp_oauth_browser_sign_ins WHERE user_id = @user AND ended_at IS NULL",
            parameters => parameters.AddWithValue("user", userId), reader => reader.GetString(0), cancellationToken);
        foreach (var signInId in live)
        {
            await EndOneAsync(signInId, SignInEnd.RevokedByPerson, cancellationToken);
        }
    }

    /// <summary>True: the provider still honours it (tokens rotated). False: refused, so it ended. Null: not asked (busy elsewhere, or the provider did not answer).</summary>
    private Task<bool?> RecheckOneAsync(string signInId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            // NO KEY UPDATE: connections may still reference the row meanwhile (FOR SHARE in HoldAsync waits, which is what keeps them from escaping an end).
            string? encryptedRefresh, userId;
            await using (var select = new NpgsqlCommand("""
                SELECT refresh_token, user_id FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id AND ended_at IS NULL FOR NO KEY UPDATE SKIP LOCKED
                """, connection, transaction))
            {
                select.Parameters.AddWithValue("id", signInId);
                await using var reader = await select.ExecuteReaderAsync(cancellationToken);
                if (!await reader.ReadAsync(cancellationToken) || reader.IsDBNull(0))
                {
                    return (bool?)null;
                }

                (encryptedRefresh, userId) = (reader.GetString(0), reader.GetString(1));
            }

            if (cipher.TryDecrypt(encryptedRefresh) is not { } refresh)
            {
                // Nothing can ask the provider for this sign-in any more: what it bounds ends.
                await EndAsync(connection, transaction, signInId, userId, SignInEnd.ProviderRefused, cancellationToken);
                return false;
            }

            UpstreamTokens tokens;
            try
            {
                tokens = await upstream.RefreshAsync(refresh, cancellationToken);
            }
            catch (OAuthException e) when (e.Code == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED)
            {
                await EndAsync(connection, transaction, signInId, userId, SignInEnd.ProviderRefused, cancellationToken);
                return false;
            }
            catch (OAuthException e)
            {
                RecheckPostponed(logger, signInId, e.Code.ToString());
                return null;
            }

            await using var update = new NpgsqlCommand("""
                UPDATE mcp_oauth_browser_sign_ins
                SET refresh_token = coalesce(@refresh, refresh_token), upstream_access_token = @access, upstream_access_token_expires_at = @expires
                WHERE sign_in_id = @id
                """, connection, transaction);
            update.Parameters.AddWithValue("refresh", tokens.RefreshToken is null ? DBNull.Value : cipher.Encrypt(tokens.RefreshToken));
            update.Parameters.AddWithValue("access", cipher.Encrypt(tokens.AccessToken));
            update.Parameters.AddWithValue("expires", tokens.AccessTokenExpiresAt);
            update.Parameters.AddWithValue("id", signInId);
            await update.ExecuteNonQueryAsync(cancellationToken);
            return true;
        }, cancellationToken);

    private async Task<List<(string SignInId, string UserId)>> LiveAsync(string condition, DateTimeOffset now, CancellationToken cancellationToken) =>
        await database.QueryListAsync(DbScope.OAuth, $"SELECT sign_in_id, user_id FROM mcp_oauth_browser_sign_ins s WHERE ended_at IS NULL AND {condition}",
            parameters =>
            {
                parameters.AddWithValue("now", now);
                parameters.AddWithValue("grace", UnusedGrace);
                parameters.AddWithValue("absolute", sessionOptions.AbsoluteLifetime);
                parameters.AddWithValue("margin", serverOptions.UpstreamRefreshMargin);
            },
            reader => (reader.GetString(0), reader.GetString(1)), cancellationToken);

    private async Task<int> EndEachAsync(string condition, DateTimeOffset now, SignInEnd reason, CancellationToken cancellationToken)
    {
        var ended = 0;
        foreach (var (signInId, _) in await LiveAsync(condition, now, cancellationToken))
        {
            ended += await EndOneAsync(signInId, reason, cancellationToken) ? 1 : 0;
        }

        return ended;
    }

    private Task<bool> EndOneAsync(string signInId, SignInEnd reason, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var select = new NpgsqlCommand(
                "SELECT user_id FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id AND ended_at IS NULL FOR NO KEY UPDATE", connection, transaction);
            select.Parameters.AddWithValue("id", signInId);
            if (await select.ExecuteScalarAsync(cancellationToken) is not string userId)
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
        string? encryptedRefresh;
        await using (var end = new NpgsqlCommand("""
            UPDATE mcp_oauth_browser_sign_ins s SET ended_at = @now, refresh_token = NULL, upstream_access_token = NULL
            FROM (SELECT sign_in_id, refresh_token FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @id) old
            WHERE s.sign_in_id = old.sign_in_id
            RETURNING old.refresh_token;
            """, connection, transaction))
        {
            end.Parameters.AddWithValue("id", signInId);
            end.Parameters.AddWithValue("now", now);
            encryptedRefresh = await end.ExecuteScalarAsync(cancellationToken) as string;
        }

        if (encryptedRefresh is not null && reason != SignInEnd.ProviderRefused)
        {
            await upstreamRevocations.QueueAsync(connection, transaction, userId, encryptedRefresh, "refresh_token", "browser sign-in: " + signInId, now,
                onlyIfLastHolder: reason != SignInEnd.RevokedByPerson, cancellationToken);
        }

        await using (var sessions = new NpgsqlCommand("DELETE FROM mcp_oauth_web_sessions WHERE sign_in_id = @id", connection, transaction))
        {
            sessions.Parameters.AddWithValue("id", signInId);
            await sessions.ExecuteNonQueryAsync(cancellationToken);
        }

        var made = await revocation.RevokeConnectionsAsync(connection, transaction, "sign_in_id = @signIn",
            new Dictionary<string, object> { ["signIn"] = signInId }, RevocationReason.SignInEnded, cancellationToken);
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
