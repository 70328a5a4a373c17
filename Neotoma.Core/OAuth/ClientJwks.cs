using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using Neotoma.Core.Security;

namespace Neotoma.Core.OAuth;

public sealed record ClientJwksOptions
{
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>A key set of a few RSA keys is 1-2 KB a key; 64 KB holds any honest one.</summary>
    public int MaxBytes { get; init; } = 64 * 1024;

    /// <summary>Kept at least this long whatever Cache-Control says (no-store included), so a burst of token requests reads the keys once.</summary>
    public TimeSpan MinLifetime { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How long a key set without caching headers is kept.</summary>
    public TimeSpan DefaultLifetime { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The longest a key set is kept whatever its max-age says, so a removed (compromised) key stops working within a day.</summary>
    public TimeSpan MaxLifetime { get; init; } = TimeSpan.FromHours(24);

    /// <summary>An honest client publishes a handful of keys (the current one and the next); a set with more is refused, so one set cannot cost much memory or CPU.</summary>
    public int MaxKeys { get; init; } = 16;

    /// <summary>
    /// Key sets kept in memory at most. The URLs are chosen by whoever publishes a document, so the cache is
    /// bounded: past this many, expired sets go first, then those that expire soonest.
    /// </summary>
    public int MaxCachedSets { get; init; } = 1_000;

    /// <summary>At most one read out of turn per jwks_uri in this long (after an assertion names a key not in the set), so forged kids cannot make Neotoma hammer a client's host.</summary>
    public TimeSpan ForcedRefetchInterval { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The public keys of clients that authenticate with <c>private_key_jwt</c>, read from the
/// <c>jwks_uri</c> of their metadata document behind the same fence as the document itself (the
/// <see cref="ClientMetadataDocuments.HttpClientName"/> client: https, public addresses checked on the
/// address connected to, no redirects, no cookies), within a size and time limit. Kept in memory per
/// instance for as long as Cache-Control allows (between <see cref="ClientJwksOptions.MinLifetime"/> and
/// <see cref="ClientJwksOptions.MaxLifetime"/>): a cache of public data, so instances may disagree for
/// a while without harm. A host that does not answer is a dependency down (503), not a client at fault.
/// </summary>
public sealed class ClientJwks(IHttpClientFactory httpClients, ClientJwksOptions options, TimeProvider timeProvider, ILogger<ClientJwks> logger)
{
    private sealed record Entry(IReadOnlyList<SecurityKey> Keys, DateTimeOffset ExpiresAt);

    private readonly ConcurrentDictionary<string, Entry> cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> forcedAt = new(StringComparer.Ordinal);

    /// <summary>The signing keys at <paramref name="jwksUri"/>: cached while fresh, else read.</summary>
    public async Task<IReadOnlyList<SecurityKey>> GetAsync(string jwksUri, CancellationToken cancellationToken) =>
        cache.TryGetValue(jwksUri, out var entry) && entry.ExpiresAt > timeProvider.GetUtcNow()
            ? entry.Keys
            : await FetchAsync(jwksUri, cancellationToken);

    /// <summary>
    /// The keys read again out of turn, because an assertion names a key the cached set lacks (the
    /// client rotated its keys); null when this jwks_uri was read out of turn within
    /// <see cref="ClientJwksOptions.ForcedRefetchInterval"/> already.
    /// </summary>
    public async Task<IReadOnlyList<SecurityKey>?> RefetchAsync(string jwksUri, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        while (true)
        {
            if (forcedAt.TryGetValue(jwksUri, out var last))
            {
                if (now - last < options.ForcedRefetchInterval)
                {
                    return null;
                }

                if (forcedAt.TryUpdate(jwksUri, now, last))
                {
                    break;
                }
            }
            else if (forcedAt.TryAdd(jwksUri, now))
            {
                break;
            }
        }

        return await FetchAsync(jwksUri, cancellationToken);
    }

    private async Task<IReadOnlyList<SecurityKey>> FetchAsync(string jwksUri, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, jwksUri);
            request.Headers.Accept.ParseAdd("application/jwk-set+json");
            request.Headers.Accept.ParseAdd("application/json");
            using var response = await httpClients.CreateClient(ClientMetadataDocuments.HttpClientName)
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (status >= 500 || response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                throw Unavailable(jwksUri, $"its host answered HTTP {status}");
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw Invalid(jwksUri, status is >= 300 and < 400 ? "its host redirects, which Neotoma does not follow for keys" : $"its host answered HTTP {status}");
            }

            var json = await ReadLimitedAsync(response.Content, jwksUri, timeout.Token);
            var keys = SigningKeys(json) ?? throw Invalid(jwksUri, "it is not a JSON Web Key Set with an RSA or EC signing key");
            if (keys.Count > options.MaxKeys)
            {
                throw Invalid(jwksUri, $"it holds {keys.Count} signing keys; at most {options.MaxKeys} are read");
            }

            var lifetime = Lifetime(response.Headers.CacheControl);
            Keep(jwksUri, new Entry(keys, timeProvider.GetUtcNow() + lifetime));
            OAuthLog.ClientJwksFetched(logger, DisplayText.Printable(jwksUri), keys.Count, (long)lifetime.TotalSeconds);
            return keys;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Unavailable(jwksUri, $"its host did not answer within {options.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e) when (e.InnerException is ClientMetadataDocuments.NonPublicAddressException refusal)
        {
            throw Invalid(jwksUri, refusal.Message);
        }
        catch (HttpRequestException e)
        {
            throw Unavailable(jwksUri, $"it could not be fetched ({e.HttpRequestError})");
        }
    }

    /// <summary>Caches a set, first making room (expired sets, then the soonest to expire) when the cache is full; forced reads are forgotten with it.</summary>
    private void Keep(string jwksUri, Entry entry)
    {
        if (cache.Count >= options.MaxCachedSets && !cache.ContainsKey(jwksUri))
        {
            var now = timeProvider.GetUtcNow();
            var leaving = cache.Where(pair => pair.Value.ExpiresAt <= now).Select(pair => pair.Key).ToList();
            if (cache.Count - leaving.Count >= options.MaxCachedSets)
            {
                leaving.AddRange(cache.Where(pair => pair.Value.ExpiresAt > now).OrderBy(pair => pair.Value.ExpiresAt)
                    .Take(cache.Count - leaving.Count - options.MaxCachedSets + 1).Select(pair => pair.Key));
            }

            foreach (var uri in leaving)
            {
                cache.TryRemove(uri, out _);
                forcedAt.TryRemove(uri, out _);
            }
        }

        cache[jwksUri] = entry;
    }

    /// <summary>How many key sets this instance keeps now (bounded by <see cref="ClientJwksOptions.MaxCachedSets"/>).</summary>
    internal int CachedSets => cache.Count;

    /// <summary>
    /// RSA and EC keys meant for signatures; never a symmetric key, whatever the set holds. Only the members a
    /// key needs are kept (members a set adds are dropped, so they cannot fill memory). Null when none.
    /// </summary>
    private static IReadOnlyList<SecurityKey>? SigningKeys(string json)
    {
        try
        {
            var set = new JsonWebKeySet(json);
            var keys = set.Keys
                .Where(key => (key.Kty is JsonWebAlgorithmsKeyTypes.RSA or JsonWebAlgorithmsKeyTypes.EllipticCurve) && (key.Use is null or "sig"))
                .Select(key => new JsonWebKey { Kty = key.Kty, Kid = key.Kid, Use = key.Use, Alg = key.Alg, N = key.N, E = key.E, Crv = key.Crv, X = key.X, Y = key.Y })
                .ToArray<SecurityKey>();
            return keys.Length > 0 ? keys : null;
        }
        catch (Exception e) when (e is ArgumentException or System.Text.Json.JsonException or FormatException)
        {
            return null;
        }
    }

    private TimeSpan Lifetime(System.Net.Http.Headers.CacheControlHeaderValue? cache)
    {
        var lifetime = cache is { NoStore: true } or { NoCache: true } ? TimeSpan.Zero : cache?.MaxAge ?? options.DefaultLifetime;
        return lifetime < options.MinLifetime ? options.MinLifetime : lifetime > options.MaxLifetime ? options.MaxLifetime : lifetime;
    }

    private async Task<string> ReadLimitedAsync(HttpContent content, string jwksUri, CancellationToken cancellationToken)
    {
        if (content.Headers.ContentLength > options.MaxBytes)
        {
            throw Invalid(jwksUri, $"it is larger than {options.MaxBytes} bytes");
        }

        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > options.MaxBytes)
            {
                throw Invalid(jwksUri, $"it is larger than {options.MaxBytes} bytes");
            }
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid(jwksUri, "it is not UTF-8 JSON");
        }
    }

    private static OAuthException Invalid(string jwksUri, string reason) =>
        new(OAuthErrorCode.OAUTH_CLIENT_JWKS_INVALID, $"The client's keys at '{DisplayText.Printable(jwksUri)}' cannot be used: {reason}.");

    private static OAuthException Unavailable(string jwksUri, string reason) =>
        new(OAuthErrorCode.OAUTH_CLIENT_JWKS_UNAVAILABLE,
            $"The client's keys at '{DisplayText.Printable(jwksUri)}' could not be read: {reason}. Nothing was spent; try again shortly.");
}
