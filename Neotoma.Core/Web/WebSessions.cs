using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

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
        await WebSessionStore.InsertAsync(database, OpaqueToken.Hash(value), userId, signInId, now, now + options.IdleLifetime, cancellationToken);
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
        var found = await WebSessionStore.FindLiveAsync(database, hash, now, now - options.AbsoluteLifetime, cancellationToken);
        if (found is not { } session)
        {
            return null;
        }

        if (now - session.LastSeen >= TouchInterval)
        {
            await WebSessionStore.TouchAsync(database, hash, now, now + options.IdleLifetime, cancellationToken);
        }

        return new WebSession(hash, session.UserId, session.SignInId, Csrf(hash));
    }

    public Task EndAsync(WebSession session, CancellationToken cancellationToken) => WebSessionStore.DeleteAsync(database, session.SessionHash, cancellationToken);

    /// <summary>Ends every session of the person, on every device and instance at once (a stolen cookie, a lost laptop); how many ended.</summary>
    public async Task<int> EndAllAsync(string userId, CancellationToken cancellationToken)
    {
        var ended = await WebSessionStore.DeleteAllOfAsync(database, userId, cancellationToken);
        WebLog.SignedOutEverywhere(logger, ended);
        return ended;
    }

    public static bool IsValidCsrf(WebSession session, string? token) => TokenCipher.SameText(session.CsrfToken, token);

    private string Csrf(string sessionHash) =>
        cipher.Mac("neotoma-web-csrf-v1", sessionHash);
}
