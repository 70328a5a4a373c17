using Microsoft.Extensions.Caching.Memory;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Validated access tokens, remembered for a few seconds so that a busy MCP client costs one
/// database lookup per token per few seconds instead of one per request. Only valid grants are
/// kept (an attacker's random tokens cannot fill it), keyed by token hash, at most 10,000 of them.
/// Only <see cref="TokenRevocation"/> evicts entries, on this instance at once and on every other
/// through <see cref="RevocationListener"/>; while that listener is not connected the cache is off,
/// since a revocation made elsewhere would go unheard (ACCESS_TOKEN_CACHE_SECONDS=0 turns it off for good).
/// </summary>
public sealed class AccessTokenCache(TimeSpan lifetime, TimeProvider timeProvider) : IDisposable
{
    private readonly MemoryCache entries = new(new MemoryCacheOptions { SizeLimit = 10_000 });
    private volatile bool listening;

    /// <summary>Whether revocations from every instance are heard; set by <see cref="RevocationListener"/>.</summary>
    public bool Listening
    {
        get => listening;
        set
        {
            listening = value;
            Clear();
        }
    }

    public bool TryGet(string tokenHash, out AccessGrant grant)
    {
        if (listening && entries.TryGetValue(tokenHash, out Entry? entry) && entry!.Until > timeProvider.GetUtcNow())
        {
            grant = entry.Grant;
            return true;
        }

        grant = null!;
        return false;
    }

    public void Add(string tokenHash, AccessGrant grant, DateTimeOffset tokenExpiresAt)
    {
        if (lifetime <= TimeSpan.Zero || !listening)
        {
            return;
        }

        var until = timeProvider.GetUtcNow().Add(lifetime);
        entries.Set(tokenHash, new Entry(grant, until < tokenExpiresAt ? until : tokenExpiresAt),
            new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = lifetime });
    }

    internal void Remove(string tokenHash) => entries.Remove(tokenHash);

    internal void Clear() => entries.Clear();

    public void Dispose() => entries.Dispose();

    private sealed record Entry(AccessGrant Grant, DateTimeOffset Until);
}
