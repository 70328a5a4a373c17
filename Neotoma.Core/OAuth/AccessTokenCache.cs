using Microsoft.Extensions.Caching.Memory;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Handed out by a cache miss, before the database is asked: <see cref="AccessTokenCache.Add"/> takes the
/// answer only if the revocation channel heard everything since (the same generation) and the ticket
/// is younger than the revoked-hash memory.
/// </summary>
public readonly record struct CacheTicket(long Generation, DateTimeOffset IssuedAt);

/// <summary>
/// Validated access tokens, remembered for a few seconds so that a busy MCP client costs one
/// database lookup per token per few seconds instead of one per request. Only valid grants are
/// kept (an attacker's random tokens cannot fill it), keyed by token hash, at most 10,000 of them.
/// Only <see cref="TokenRevocation"/> evicts entries, on this instance at once and on every other
/// through <see cref="RevocationListener"/>; while that listener cannot prove it hears (its own
/// probe comes back) the cache is off, since a revocation made elsewhere could go unheard
/// (ACCESS_TOKEN_CACHE_SECONDS=0 turns it off for good).
/// </summary>
/// <remarks>
/// A lookup reads the row, then adds it; a revocation can commit and be heard in between. So every
/// eviction is remembered for a while and <see cref="Add"/> refuses remembered hashes, and a lookup
/// that began before the listener lost or regained its channel (when notifications may have been
/// missed) is not cached at all: each change of <see cref="Listening"/> starts a new generation.
/// </remarks>
public sealed class AccessTokenCache(TimeSpan lifetime, TimeProvider timeProvider) : IDisposable
{
    /// <summary>
    /// The most evictions remembered at once. Only real revocations add to it (an access token that
    /// was issued, then revoked through a rate-limited endpoint); when it is full the cache takes
    /// nothing new until what it could not remember would have been forgotten anyway.
    /// </summary>
    internal const int RevokedCapacity = 10_000;

    /// <summary>
    /// How long a lookup may take and still be cached: longer than Npgsql's 30 s command timeout
    /// allows for a read, so a slower one is simply not cached.
    /// </summary>
    private static readonly TimeSpan SlowestLookup = TimeSpan.FromSeconds(30);

    private readonly MemoryCache entries = new(new MemoryCacheOptions { SizeLimit = 10_000 });

    /// <summary>
    /// How long an eviction is remembered, and the oldest ticket accepted. What it must outlast is a
    /// lookup (read before the revocation, added after it); it is never shorter than the cache lifetime.
    /// </summary>
    private readonly TimeSpan memory = lifetime > SlowestLookup ? lifetime : SlowestLookup;

    private readonly Lock gate = new();
    private readonly Dictionary<string, DateTimeOffset> revoked = new(StringComparer.Ordinal);
    private readonly Queue<(string Hash, DateTimeOffset Until)> revokedInOrder = new();
    private DateTimeOffset refuseAllUntil = DateTimeOffset.MinValue;
    private long generation;
    private volatile bool listening;

    /// <summary>False when ACCESS_TOKEN_CACHE_SECONDS is 0: nothing is cached and nothing needs hearing.</summary>
    public bool Enabled => lifetime > TimeSpan.Zero;

    /// <summary>
    /// Whether revocations from every instance are heard; set by <see cref="RevocationListener"/> when
    /// it proves it hears and when it loses that proof. Either way the cache starts empty.
    /// </summary>
    public bool Listening
    {
        get => listening;
        set
        {
            lock (gate)
            {
                listening = value;
                Interlocked.Increment(ref generation);
                entries.Clear();
            }
        }
    }

    /// <summary>Revoked hashes remembered now (at most <see cref="RevokedCapacity"/>).</summary>
    internal int RememberedCount
    {
        get
        {
            lock (gate)
            {
                Forget(timeProvider.GetUtcNow());
                return revokedInOrder.Count;
            }
        }
    }

    /// <summary>The cached grant, if any; on a miss, <paramref name="ticket"/> is what the caller hands to <see cref="Add"/>.</summary>
    public bool TryGet(string tokenHash, out AccessGrant grant, out CacheTicket ticket)
    {
        ticket = new CacheTicket(Interlocked.Read(ref generation), timeProvider.GetUtcNow());
        if (listening && entries.TryGetValue(tokenHash, out Entry? entry) && entry!.Until > ticket.IssuedAt)
        {
            grant = entry.Grant;
            return true;
        }

        grant = null!;
        return false;
    }

    /// <summary>Caches what a lookup that began with <paramref name="ticket"/> found, unless it may be stale.</summary>
    public void Add(CacheTicket ticket, string tokenHash, AccessGrant grant, DateTimeOffset tokenExpiresAt)
    {
        if (!Enabled)
        {
            return;
        }

        lock (gate)
        {
            var now = timeProvider.GetUtcNow();
            Forget(now);
            if (!listening || ticket.Generation != generation || now - ticket.IssuedAt > memory
                || now < refuseAllUntil || revoked.ContainsKey(tokenHash))
            {
                return;
            }

            var until = now.Add(lifetime);
            entries.Set(tokenHash, new Entry(grant, until < tokenExpiresAt ? until : tokenExpiresAt),
                new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = lifetime });
        }
    }

    /// <summary>Evicts a revoked token and remembers it, so a lookup that read it before the revocation cannot add it back.</summary>
    internal void Remove(string tokenHash)
    {
        lock (gate)
        {
            var now = timeProvider.GetUtcNow();
            Forget(now);
            var until = now + memory;
            if (revokedInOrder.Count >= RevokedCapacity)
            {
                refuseAllUntil = until;
            }
            else
            {
                revoked[tokenHash] = until;
                revokedInOrder.Enqueue((tokenHash, until));
            }

            entries.Remove(tokenHash);
        }
    }

    public void Dispose() => entries.Dispose();

    /// <summary>Forgets the evictions older than the memory (a hash evicted twice stays until its later one is).</summary>
    private void Forget(DateTimeOffset now)
    {
        while (revokedInOrder.TryPeek(out var oldest) && oldest.Until <= now)
        {
            revokedInOrder.Dequeue();
            if (revoked.TryGetValue(oldest.Hash, out var until) && until <= now)
            {
                revoked.Remove(oldest.Hash);
            }
        }
    }

    private sealed record Entry(AccessGrant Grant, DateTimeOffset Until);
}
