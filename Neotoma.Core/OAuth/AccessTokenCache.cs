using System.Collections.Concurrent;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Validated access tokens, remembered for a few seconds so that a busy MCP client costs one
/// database lookup per token per few seconds instead of one per request. Only valid grants are
/// kept (an attacker's random tokens cannot fill it), keyed by token hash. Every revocation made
/// by this instance clears it at once; another instance may keep honouring a revoked token for
/// at most the cache lifetime (ACCESS_TOKEN_CACHE_SECONDS, 0 turns the cache off).
/// </summary>
public sealed class AccessTokenCache(TimeSpan lifetime, TimeProvider timeProvider)
{
    private const int MaxEntries = 10_000;
    private readonly ConcurrentDictionary<string, (AccessGrant Grant, DateTimeOffset Until)> entries = new(StringComparer.Ordinal);

    public bool TryGet(string tokenHash, out AccessGrant grant)
    {
        if (entries.TryGetValue(tokenHash, out var entry) && entry.Until > timeProvider.GetUtcNow())
        {
            grant = entry.Grant;
            return true;
        }

        grant = null!;
        return false;
    }

    public void Add(string tokenHash, AccessGrant grant, DateTimeOffset tokenExpiresAt)
    {
        if (lifetime <= TimeSpan.Zero)
        {
            return;
        }

        if (entries.Count >= MaxEntries)
        {
            entries.Clear();
        }

        var until = timeProvider.GetUtcNow().Add(lifetime);
        entries[tokenHash] = (grant, until < tokenExpiresAt ? until : tokenExpiresAt);
    }

    public void Clear() => entries.Clear();
}
