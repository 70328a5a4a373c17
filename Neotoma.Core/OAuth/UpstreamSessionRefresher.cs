using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Keeps an upstream sign-in alive with its stored (encrypted) refresh token: a connection's when its
/// client refreshes, a browser sign-in's when the timer re-checks it (<see cref="BrowserSignIns"/>). It
/// runs inside a transaction that holds the holder's row lock, so two refreshes never spend one upstream
/// refresh token twice. Its failures say what they are: the provider not answering is
/// <see cref="OAuthErrorCode.OAUTH_UPSTREAM_UNAVAILABLE"/> (nothing changes; retry later), the provider
/// refusing the refresh token (or a token that can no longer be decrypted) is
/// <see cref="OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED"/> (the sign-in is over), anything else
/// <see cref="OAuthErrorCode.OAUTH_UPSTREAM_ERROR"/>.
/// </summary>
public sealed class UpstreamSessionRefresher(
    UpstreamIdentityProvider upstream,
    TokenCipher cipher,
    KeyRotationService rotation,
    OAuthServerOptions options,
    TimeProvider timeProvider,
    ILogger<UpstreamSessionRefresher> logger)
{
    /// <summary>A connection's upstream access token is refreshed only when it is about to expire.</summary>
    public async Task RefreshIfDueAsync(NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        var stored = await GrantStore.Upstream.ReadAsync(transaction, connectionId, cancellationToken)
            ?? throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, "The connection of this token no longer exists; sign in again.");
        if (stored.IsEmpty)
        {
            // Made from a remembered approval in a signed-in browser, not from a sign-in at the
            // provider: there is no upstream session to keep alive.
            return;
        }

        if (stored.AccessExpiresAt is { } expiry && expiry > timeProvider.GetUtcNow().Add(options.UpstreamRefreshMargin))
        {
            // No upstream call; but rows written under a previous key move to the current one as they are used.
            await rotation.ReencryptIfStaleAsync(transaction, GrantStore.Upstream, connectionId, stored.Refresh, stored.Access, cancellationToken);
            return;
        }

        OAuthLog.Refreshing(logger, connectionId);
        await RefreshAsync(transaction, GrantStore.Upstream, connectionId, stored.Refresh, cancellationToken);
    }

    /// <summary>Refreshes at the provider with a holder's stored refresh token (its row locked by the caller) and stores what the provider answers.</summary>
    public async Task RefreshAsync(
        NpgsqlTransaction transaction, UpstreamTokenHolder holder, string holderId, string? encryptedRefresh, CancellationToken cancellationToken)
    {
        var refresh = encryptedRefresh is null ? null : cipher.TryDecrypt(encryptedRefresh);
        if (refresh is null)
        {
            UpstreamLog.FailedTo(logger, "decrypt refresh token", encryptedRefresh is null ? "none stored" : "the key changed or the stored text was altered");
            throw new OAuthException(OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED,
                "This connection's stored sign-in could not be read (the encryption key changed or the data was altered). Sign in again.");
        }

        var tokens = await upstream.RefreshAsync(refresh, cancellationToken);
        await holder.StoreRefreshedAsync(transaction, holderId, tokens.RefreshToken is null ? null : cipher.Encrypt(tokens.RefreshToken),
            cipher.Encrypt(tokens.AccessToken), tokens.AccessTokenExpiresAt, cancellationToken);
    }
}
