using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>Who an access token speaks for: the only source of the user id that MCP tools see.</summary>
public sealed record AccessGrant(string UserId, string ClientId, string ConnectionId, string Scope, string Resource);

/// <summary>
/// Access-token validation for /mcp: the cache, else one indexed lookup; never a call upstream.
/// Each use marks its connection as used, written at most once a minute per connection.
/// </summary>
public sealed class AccessTokenValidator(NeotomaDatabase database, OAuthServerOptions options, AccessTokenCache cache, TimeProvider timeProvider)
{
    private static readonly TimeSpan UsageInterval = TimeSpan.FromMinutes(1);

    /// <summary>When this instance last wrote each connection's last_used_at.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> usageWritten = new();

    public async Task<AccessGrant?> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var grant = await FindAsync(token, cancellationToken);
        if (grant is not null)
        {
            await RecordUseAsync(grant.ConnectionId, cancellationToken);
        }

        return grant;
    }

    private async Task RecordUseAsync(string connectionId, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        if (usageWritten.TryGetValue(connectionId, out var written) && now - written < UsageInterval)
        {
            return;
        }

        usageWritten[connectionId] = now;
        // Another instance may have written it moments ago: the store keeps that to one write a minute too.
        await GrantStore.TouchAsync(database, connectionId, now, now - UsageInterval, cancellationToken);
    }

    private async Task<AccessGrant?> FindAsync(string token, CancellationToken cancellationToken)
    {
        var hash = OpaqueToken.Hash(token);
        if (cache.TryGet(hash, out var cached, out var ticket))
        {
            return cached;
        }

        var found = await GrantStore.FindLiveAccessTokenAsync(database, hash, timeProvider.GetUtcNow(), options.PersonalTokenMaxLifetime, cancellationToken);
        if (found is not { } row || row.Resource != options.Resource)
        {
            return null;
        }

        var grant = new AccessGrant(row.UserId, row.ClientId, row.ConnectionId, row.Scope, row.Resource);
        cache.Add(ticket, hash, grant, row.ExpiresAt);
        return grant;
    }
}
