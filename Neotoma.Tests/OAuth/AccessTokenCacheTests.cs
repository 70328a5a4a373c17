using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

public sealed class CachingOAuthFixture : OAuthFixture
{
    protected override void Configure(Dictionary<string, string?> settings) => settings[SettingNames.AccessTokenCacheSeconds] = "5";
}

/// <summary>A validated token is remembered a few seconds; revocation through Neotoma still takes effect at once.</summary>
public sealed class AccessTokenCacheTests(CachingOAuthFixture fixture) : IClassFixture<CachingOAuthFixture>
{
    private async Task<HttpStatusCode> CallMcpAsync(string token) => (await fixture.SendMcpAsync(token)).StatusCode;

    [Fact]
    public async Task ValidatedToken_IsServedFromTheCache_WithoutTheDatabase()
    {
        var (tokens, _) = await fixture.SignInAsync("cache-hit");
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(tokens.AccessToken));

        // Changed behind the app's back (no revocation through Neotoma): the cache answers for up to 5 s.
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = @h",
            ("h", OpaqueToken.Hash(tokens.AccessToken)));

        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(tokens.AccessToken));
    }

    [Fact]
    public async Task RevocationThroughNeotoma_TakesEffectAtOnce_DespiteTheCache()
    {
        var (tokens, client) = await fixture.SignInAsync("cache-revoke");
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(tokens.AccessToken));

        await fixture.Server.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = tokens.RefreshToken, ["client_id"] = client.ClientId,
        }));

        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(tokens.AccessToken));
    }

    [Fact]
    public async Task UnknownTokens_AreNeverCached()
    {
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync("not-a-token"));
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync("not-a-token"));
    }
}

/// <summary>
/// The late lookup: a lookup reads a token's row, a revocation commits and is heard, then the lookup
/// answers. What it read must not go back into the cache, however the steps interleave with the
/// revocation channel being lost and found.
/// </summary>
public sealed class AccessTokenCacheLateLookupTests
{
    private static readonly AccessGrant Grant = new("user", "client", "connection", "neotoma:read", "http://127.0.0.1/mcp");

    private readonly FakeTimeProvider clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    private AccessTokenCache Hearing() => new(TimeSpan.FromSeconds(5), clock) { Listening = true };

    private static string Hash(int i) => i.ToString("x64");

    private void Lookup(AccessTokenCache cache, string hash, Action between)
    {
        Assert.False(cache.TryGet(hash, out _, out var ticket));
        between();
        cache.Add(ticket, hash, Grant, clock.GetUtcNow().AddHours(1));
    }

    [Fact]
    public void ALookupThatAnswersAfterTheRevocationWasHeard_IsNotCached()
    {
        using var cache = Hearing();

        Lookup(cache, Hash(1), () => cache.Remove(Hash(1)));

        Assert.False(cache.TryGet(Hash(1), out _, out _));
    }

    [Fact]
    public void AHashRevokedEarlier_IsNotCachedByALaterLookupEither_WithinTheMemory()
    {
        using var cache = Hearing();
        cache.Remove(Hash(1));
        clock.Advance(TimeSpan.FromSeconds(29));

        Lookup(cache, Hash(1), () => { });

        Assert.False(cache.TryGet(Hash(1), out _, out _));
    }

    [Fact]
    public void OtherTokens_AreStillCached()
    {
        using var cache = Hearing();
        cache.Remove(Hash(1));

        Lookup(cache, Hash(2), () => { });

        Assert.True(cache.TryGet(Hash(2), out var grant, out _));
        Assert.Equal(Grant, grant);
    }

    [Fact]
    public void ALookupThatBeganBeforeTheChannelWasLostAndFound_IsNotCached()
    {
        using var cache = Hearing();

        // While the channel was down, a revocation of this token went unheard: nothing remembers it.
        Lookup(cache, Hash(1), () =>
        {
            cache.Listening = false;
            cache.Listening = true;
        });

        Assert.False(cache.TryGet(Hash(1), out _, out _));
        Lookup(cache, Hash(1), () => { });
        Assert.True(cache.TryGet(Hash(1), out _, out _));
    }

    [Fact]
    public void ALookupThatBeganWhileDeaf_IsNotCached_OnceHearing()
    {
        using var cache = new AccessTokenCache(TimeSpan.FromSeconds(5), clock);

        Lookup(cache, Hash(1), () => cache.Listening = true);

        Assert.False(cache.TryGet(Hash(1), out _, out _));
    }

    [Fact]
    public void ALookupSlowerThanTheMemory_IsNotCached()
    {
        using var cache = Hearing();

        // The revocation was heard early in a 31-s lookup and is forgotten by the time it answers.
        Lookup(cache, Hash(1), () =>
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            cache.Remove(Hash(1));
            clock.Advance(TimeSpan.FromSeconds(30));
        });

        Assert.False(cache.TryGet(Hash(1), out _, out _));
    }

    [Fact]
    public void TheMemoryIsBounded_AndWhenFull_NothingNewIsCachedUntilItWouldHaveBeenForgotten()
    {
        using var cache = Hearing();
        for (var i = 0; i < AccessTokenCache.RevokedCapacity + 500; i++)
        {
            cache.Remove(Hash(i));
        }

        Assert.Equal(AccessTokenCache.RevokedCapacity, cache.RememberedCount);
        // The 500 it could not remember: it caches nothing at all rather than one of them.
        Lookup(cache, Hash(AccessTokenCache.RevokedCapacity + 1), () => { });
        Assert.False(cache.TryGet(Hash(AccessTokenCache.RevokedCapacity + 1), out _, out _));
        Lookup(cache, Hash(-1), () => { });
        Assert.False(cache.TryGet(Hash(-1), out _, out _));

        clock.Advance(TimeSpan.FromSeconds(31));

        Assert.Equal(0, cache.RememberedCount);
        Lookup(cache, Hash(-1), () => { });
        Assert.True(cache.TryGet(Hash(-1), out _, out _));
    }
}
