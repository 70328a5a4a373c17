using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Web;

/// <summary>A signed-in browser: who it is, the sign-in at the provider that bounds it (<see cref="BrowserSignIns"/>), and the CSRF token its forms must carry.</summary>
public sealed record WebSession(string SessionHash, string UserId, string SignInId, string CsrfToken);

/// <summary>
/// Browser sessions of the connections page, kept in PostgreSQL so sign-out ends a session on
/// every instance at once. The cookie holds 256 random bits; the table holds their SHA-256. A
/// session's last use is written at most once a minute. Every state-changing form carries a
/// CSRF token derived from the session (HMAC), so it is valid for that session only.
/// </summary>
public sealed class WebSessions(NeotomaDatabase database, TokenCipher cipher, WebSessionOptions options, TimeProvider timeProvider, ILogger<WebSessions> logger)
{
    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);

    /// <summary>Starts a session for a person who just signed in (<paramref name="signInId"/>); returns the cookie's value.</summary>
    public async Task<string> StartAsync(string userId, string signInId, CancellationToken cancellationToken)
    {
        var value = OpaqueToken.New(32);
        var now = timeProvider.GetUtcNow();
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO mcp_oauth_web_sessions (session_hash, user_id, sign_in_id, created_at, last_seen_at, expires_at)
                VALUES (@hash, @user, @signIn, @now, @now, @expires)
                """, connection, transaction);
            command.Parameters.AddWithValue("hash", OpaqueToken.Hash(value));
            command.Parameters.AddWithValue("user", userId);
            command.Parameters.AddWithValue("signIn", signInId);
            command.Parameters.AddWithValue("now", now);
            command.Parameters.AddWithValue("expires", now + options.IdleLifetime);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
        return value;
    }

    /// <summary>The live session a cookie stands for, or null; its idle expiry moves on at most once a minute.</summary>
    public async Task<WebSession?> FindAsync(string? cookie, CancellationToken cancellationToken)
    {
        if (cookie is not { Length: 43 })
        {
            return null;
        }

        var hash = OpaqueToken.Hash(cookie);
        var now = timeProvider.GetUtcNow();
        var found = await database.QuerySingleAsync(DbScope.OAuth, """
            SELECT user_id, last_seen_at, sign_in_id FROM mcp_oauth_web_sessions
            WHERE session_hash = @hash AND expires_at > @now AND created_at > @oldest AND sign_in_id IS NOT NULL
            """,
            parameters =>
            {
                parameters.AddWithValue("hash", hash);
                parameters.AddWithValue("now", now);
                parameters.AddWithValue("oldest", now - options.AbsoluteLifetime);
            },
            reader => (UserId: reader.GetString(0), LastSeen: reader.GetFieldValue<DateTimeOffset>(1), SignInId: reader.GetString(2)),
            cancellationToken);
        if (found is not { } session)
        {
            return null;
        }

        if (now - session.LastSeen >= TouchInterval)
        {
            await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
            {
                await using var touch = new NpgsqlCommand(
                    "UPDATE mcp_oauth_web_sessions SET last_seen_at = @now, expires_at = @expires WHERE session_hash = @hash",
                    connection, transaction);
                touch.Parameters.AddWithValue("hash", hash);
                touch.Parameters.AddWithValue("now", now);
                touch.Parameters.AddWithValue("expires", now + options.IdleLifetime);
                await touch.ExecuteNonQueryAsync(cancellationToken);
            }, cancellationToken);
        }

        return new WebSession(hash, session.UserId, session.SignInId, Csrf(hash));
    }

    public Task EndAsync(WebSession session, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("DELETE FROM mcp_oauth_web_sessions WHERE session_hash = @hash", connection, transaction);
            command.Parameters.AddWithValue("hash", session.SessionHash);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Ends every session of the person, on every device and instance at once (a stolen cookie, a lost laptop); how many ended.</summary>
    public async Task<int> EndAllAsync(string userId, CancellationToken cancellationToken)
    {
        var ended = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("DELETE FROM mcp_oauth_web_sessions WHERE user_id = @user", connection, transaction);
            command.Parameters.AddWithValue("user", userId);
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
        WebLog.SignedOutEverywhere(logger, ended);
        return ended;
    }

    public static bool IsValidCsrf(WebSession session, string? token) =>
        token is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(session.CsrfToken), Encoding.ASCII.GetBytes(token));

    private string Csrf(string sessionHash) =>
        OpaqueToken.Base64Url(HMACSHA256.HashData(cipher.DeriveKey("neotoma-web-csrf-v1"), Encoding.ASCII.GetBytes(sessionHash)));
}
