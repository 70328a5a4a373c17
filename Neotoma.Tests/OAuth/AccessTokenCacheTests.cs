using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Neotoma.Core.Configuration;
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
