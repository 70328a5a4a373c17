using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>Why a connection is revoked: said in the log, and whether its upstream tokens are revoked at the provider too.</summary>
public enum RevocationReason
{
    /// <summary>The person revoked it on the connections page.</summary>
    RevokedByPerson,

    /// <summary>The person pressed Revoke all: every holder of their upstream tokens ends, so each is revoked at the provider.</summary>
    RevokedEverything,

    /// <summary>The browser sign-in that made it (from a remembered approval, or a personal token) ended.</summary>
    SignInEnded,

    /// <summary>Its client revoked its refresh token (RFC 7009).</summary>
    RevokedByClient,

    /// <summary>An authorization code of it was presented twice (RFC 6749 §4.1.2).</summary>
    CodeReplayed,

    /// <summary>A rotated refresh token of it was presented again outside the grace window: treated as theft.</summary>
    RefreshTokenReused,

    /// <summary>The same person authorized the same client again and redeemed the new code.</summary>
    Replaced,

    /// <summary>The provider refused its upstream refresh token: the sign-in is over there already.</summary>
    ProviderRefused,

    /// <summary>Made by a sign-in whose code was never redeemed.</summary>
    Abandoned,
}

/// <summary>
/// The one owner of revocation: of a connection with every token issued for it and its upstream
/// tokens (queued for the provider when they are the person's last, see <see cref="UpstreamRevocations"/>),
/// and of a single access token. Every writer of a connection's tokens (code redemption, refresh,
/// revocation, a new sign-in replacing an old one) first locks the connection's row, so they queue in one order
/// and cannot deadlock, and a token pair issued while reuse is detected either lands before the
/// revocation (and dies with the rest) or finds the connection revoked. It is the only code that
/// evicts access tokens from the cache: here at once, and on every instance through PostgreSQL
/// NOTIFY, which is delivered when the revoking transaction commits (see <see cref="RevocationListener"/>).
/// </summary>
public sealed class TokenRevocation(
    NeotomaDatabase database, AccessTokenCache cache, UpstreamRevocations upstreamRevocations, ClientAssertions clientAssertions, ClientSecrets clientSecrets, TimeProvider timeProvider,
    ILogger<TokenRevocation> logger)
{
    public const string Channel = "neotoma_revoked_tokens";

    /// <summary>Token hashes are 64 hex characters: 100 of them (6,500 bytes) stay under NOTIFY's 8,000-byte payload.</summary>
    private const int HashesPerNotification = 100;

    /// <summary>Locks a connection's row for the rest of the transaction; null when there is no such connection.</summary>
    public static Task<ConnectionLock?> LockConnectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken) =>
        GrantStore.LockAsync(transaction, connectionId, cancellationToken);

    /// <summary>
    /// Revokes a connection in the caller's transaction, which holds its lock: the connection, every
    /// token issued for it, and the upstream tokens stored for it. A revoked connection is final, so
    /// they are not kept: they are queued for revocation at the provider (sent when this transaction
    /// commits, see <see cref="UpstreamRevocations"/>) when they are the person's last (or the person
    /// revokes everything), unless the provider itself just refused them.
    /// </summary>
    public async Task RevokeConnectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string connectionId, RevocationReason reason, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var revoked = await GrantStore.RevokeAsync(transaction, connectionId, now, cancellationToken);
        if (reason != RevocationReason.ProviderRefused && revoked is { } taken && (taken.UpstreamRefresh ?? taken.UpstreamAccess) is { } token)
        {
            // Revoking the refresh token ends the provider's grant, its access tokens included (RFC 7009 §2.1).
            await upstreamRevocations.QueueAsync(connection, transaction, taken.UserId, token, taken.UpstreamRefresh is null ? "access_token" : "refresh_token",
                "connection: " + connectionId, now, onlyIfLastHolder: reason != RevocationReason.RevokedEverything, cancellationToken);
        }

        OAuthLog.ConnectionRevoked(logger, connectionId, reason);
        await EvictEverywhereAsync(connection, transaction, revoked?.LiveAccessTokenHashes ?? [], cancellationToken);
    }

    /// <summary>
    /// Revokes, in the caller's transaction, the connections it locked (in id order: see
    /// <see cref="GrantStore.LockReplacedAsync"/>, <see cref="GrantStore.LockMadeByAsync"/>); how many.
    /// </summary>
    internal async Task<int> RevokeConnectionsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<string> lockedIds, RevocationReason reason, CancellationToken cancellationToken)
    {
        foreach (var id in lockedIds)
        {
            await RevokeConnectionAsync(connection, transaction, id, reason, cancellationToken);
        }

        return lockedIds.Count;
    }

    /// <summary>Revokes a connection in its own transaction; false when it does not exist.</summary>
    public Task<bool> RevokeConnectionAsync(string connectionId, RevocationReason reason, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            if (await LockConnectionAsync(connection, transaction, connectionId, cancellationToken) is null)
            {
                return false;
            }

            await RevokeConnectionAsync(connection, transaction, connectionId, reason, cancellationToken);
            return true;
        }, cancellationToken);

    /// <summary>A connection still pending this long after its sign-in will never be redeemed (codes live 60 seconds).</summary>
    internal static readonly TimeSpan AbandonedAfter = TimeSpan.FromHours(1);

    /// <summary>
    /// Revokes connections whose code was never redeemed (from the 5-minute timer), so the upstream
    /// tokens their sign-in stored are revoked at the provider rather than kept; how many.
    /// </summary>
    public async Task<int> RevokeAbandonedAsync(CancellationToken cancellationToken)
    {
        const int batchSize = 500;
        var revoked = 0;
        List<string> batch;
        do
        {
            batch = await GrantStore.AbandonedAsync(database, timeProvider.GetUtcNow() - AbandonedAfter, batchSize, cancellationToken);
            foreach (var connectionId in batch)
            {
                revoked += await RevokeConnectionAsync(connectionId, RevocationReason.Abandoned, cancellationToken) ? 1 : 0;
            }
        }
        while (batch.Count == batchSize);

        return revoked;
    }

    /// <summary>
    /// The revocation endpoint's form: <c>token</c>, and <c>client_id</c> when the client names itself; a
    /// confidential client authenticates as at the token endpoint (a secret, Basic or posted, or an assertion).
    /// </summary>
    /// <param name="authorization">The request's Authorization header, for client_secret_basic.</param>
    public async Task RevokeAsync(
        IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> form, CancellationToken cancellationToken, string? authorization = null)
    {
        var p = OAuthParameters.SingleValued(form);
        var token = OAuthParameters.Required(p, "token");
        var client = await clientSecrets.AuthenticateAsync(p, authorization, cancellationToken) ?? await clientAssertions.AuthenticateAsync(p, cancellationToken);
        await RevokeTokenAsync(token, client.ClientId, cancellationToken, client.Proven);
    }

    /// <summary>
    /// RFC 7009. A refresh token stands for the whole grant: its connection is revoked (§2.1: the
    /// access tokens of the same grant too). An access token is revoked alone. Unknown tokens, and
    /// tokens of another client than the one named, change nothing and are answered the same.
    /// Two indexed lookups at most, and one cache entry evicted per access token, never the whole cache.
    /// </summary>
    public Task RevokeTokenAsync(string token, string? clientId, CancellationToken cancellationToken, bool clientAuthenticated = false) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            var hash = OpaqueToken.Hash(token);
            if (await GrantStore.FindTokenAsync(transaction, hash, cancellationToken) is not var (kind, tokenClient, connectionId, confidential)
                // A confidential client's token is revoked only at that client's proven request (RFC 7009 §2.1); an
                // unauthenticated one is answered like a token of another client: 200, nothing changed.
                || (clientId is not null && clientId != tokenClient) || (confidential && !clientAuthenticated))
            {
                return;
            }

            if (kind == NewToken.Refresh && connectionId is not null
                && await LockConnectionAsync(connection, transaction, connectionId, cancellationToken) is not null)
            {
                await RevokeConnectionAsync(connection, transaction, connectionId, RevocationReason.RevokedByClient, cancellationToken);
                return;
            }

            await GrantStore.RevokeTokenAsync(transaction, hash, timeProvider.GetUtcNow(), cancellationToken);
            await EvictEverywhereAsync(connection, transaction, [hash], cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// Evicts the hashes here now, and everywhere (this instance included, which closes the gap
    /// in which a request could re-cache the old row) when the transaction commits.
    /// </summary>
    private async Task EvictEverywhereAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<string> tokenHashes, CancellationToken cancellationToken)
    {
        foreach (var hash in tokenHashes)
        {
            cache.Remove(hash);
        }

        foreach (var chunk in tokenHashes.Chunk(HashesPerNotification))
        {
            await using var notify = new NpgsqlCommand("SELECT pg_notify(@channel, @payload)", connection, transaction);
            notify.Parameters.AddWithValue("channel", Channel);
            notify.Parameters.AddWithValue("payload", string.Join(' ', chunk));
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>What <see cref="RevocationListener"/> hears: the hashes another transaction revoked.</summary>
    internal void OnNotified(string payload)
    {
        foreach (var hash in payload.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            cache.Remove(hash);
        }
    }
}
