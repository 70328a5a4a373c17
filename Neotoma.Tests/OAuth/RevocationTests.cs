using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.OAuth;

public sealed class LongCacheOAuthFixture : OAuthFixture
{
    /// <summary>A cache far longer than any wait below: what ends a revoked token's life is the revocation, not the expiry.</summary>
    protected override void Configure(Dictionary<string, string?> settings) => settings[SettingNames.AccessTokenCacheSeconds] = "60";
}

/// <summary>
/// RFC 7009 and the one revocation owner: a revoked token is refused at once on every instance, a
/// revocation evicts what it revoked and nothing else, and a revoked connection is final.
/// </summary>
public sealed class RevocationTests(LongCacheOAuthFixture fixture, ITestOutputHelper output) : IClassFixture<LongCacheOAuthFixture>
{
    [Fact]
    public async Task RevokedOnOneInstance_IsRefusedOnAnother_DespiteItsCache()
    {
        await using var second = await fixture.StartSecondInstanceAsync();
        var (tokens, client) = await fixture.SignInAsync("two-instances");
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second, tokens.AccessToken));

        var clock = Stopwatch.StartNew();
        await RevokeAsync(fixture.Server, tokens.RefreshToken, client.ClientId);
        while (await CallAsync(second, tokens.AccessToken) == HttpStatusCode.OK)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "the second instance still honours the revoked token");
            await Task.Delay(5);
        }

        output.WriteLine($"refused on the second instance {clock.Elapsed.TotalMilliseconds:F0} ms after the revocation answered");
    }

    [Fact]
    public async Task RevocationChannel_Lost_IsReconnected_AndStillEvicts()
    {
        await using var second = await fixture.StartSecondInstanceAsync();
        await WaitForListenersAsync(2);
        await fixture.Database.AdminExecuteAsync(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'");
        await WaitForListenersAsync(2);
        var (tokens, client) = await fixture.SignInAsync("listener-back");
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second, tokens.AccessToken));

        await RevokeAsync(fixture.Server, tokens.RefreshToken, client.ClientId);

        var clock = Stopwatch.StartNew();
        while (await CallAsync(second, tokens.AccessToken) == HttpStatusCode.OK)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), "a reconnected listener did not evict the revoked token");
            await Task.Delay(5);
        }
    }

    [Fact]
    public async Task RevokingOneAccessToken_EvictsOnlyThatOne_NotTheWholeCache()
    {
        var (alice, aliceClient) = await fixture.SignInAsync("evict-alice");
        var (bob, _) = await fixture.SignInAsync("evict-bob");
        Assert.Equal(HttpStatusCode.OK, await CallAsync(fixture.Server, alice.AccessToken));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(fixture.Server, bob.AccessToken));
        // Behind the app's back: only a cached entry can still answer for Bob's token now.
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = @h",
            ("h", OpaqueToken.Hash(bob.AccessToken)));

        await RevokeAsync(fixture.Server, alice.AccessToken, aliceClient.ClientId);

        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(fixture.Server, alice.AccessToken));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(fixture.Server, bob.AccessToken));
    }

    [Fact]
    public async Task RevokingASignInWithHundredsOfLiveTokens_NotifiesThemAll_WithoutAServerError()
    {
        var (tokens, client) = await fixture.SignInAsync("many-tokens");
        // 250 refreshes, as a busy client makes them: each leaves its access token live until it expires.
        var minted = new List<string>();
        var refresh = tokens.RefreshToken;
        for (var i = 0; i < 250; i++)
        {
            var next = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token", ["refresh_token"] = refresh, ["client_id"] = client.ClientId,
            }));
            minted.Add(next.AccessToken);
            refresh = next.RefreshToken;
        }

        Assert.Equal(HttpStatusCode.OK, await CallAsync(fixture.Server, minted[^1]));

        var response = await RevokeAsync(fixture.Server, refresh, client.ClientId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(fixture.Server, minted[^1]));
        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(fixture.Server, minted[0]));
    }

    [Fact]
    public async Task Revoke_OfAnotherClientsToken_ChangesNothing()
    {
        var (tokens, _) = await fixture.SignInAsync("not-yours");
        var other = await fixture.RegisterAsync(name: "Other client");

        var response = await RevokeAsync(fixture.Server, tokens.RefreshToken, other.ClientId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(fixture.Server, tokens.AccessToken));
    }

    [Fact]
    public async Task RevokedConnection_CannotBeRevived_ByAJsonInitiateWithItsId()
    {
        var (tokens, client) = await fixture.SignInAsync("revive");
        var connection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken)));
        await RevokeAsync(fixture.Server, tokens.RefreshToken, client.ClientId);

        var response = await InitiateJsonAsync(connection!);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("never reused", await response.Content.ReadAsStringAsync());
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(fixture.Server, tokens.AccessToken));
    }

    [Fact]
    public async Task TwoSignInsRacingForOneChosenConnectionId_TheSecondIsRefused_AndTheFirstIsUntouched()
    {
        var first = await AuthUrlAsync(await InitiateJsonAsync("chosen-once"));
        var second = await AuthUrlAsync(await InitiateJsonAsync("chosen-once"));
        var callback = new Uri(fixture.Issuer + "/api/mcp/oauth/callback");

        using var firstBrowser = new BrowserAgent();
        var done = await firstBrowser.GetAsync(await firstBrowser.SignInAsync(first, callback, "racer-one"));
        using var secondBrowser = new BrowserAgent();
        var refused = await secondBrowser.GetAsync(await secondBrowser.SignInAsync(second, callback, "racer-two"));

        Assert.Equal(HttpStatusCode.OK, done.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("never reused", await refused.Content.ReadAsStringAsync());
        Assert.Equal("racer-one", await fixture.Database.AdminScalarAsync<string>(
            "SELECT user_id FROM mcp_oauth_connections WHERE connection_id = 'chosen-once' AND revoked_at IS NULL"));
    }

    private async Task WaitForListenersAsync(int count)
    {
        var clock = Stopwatch.StartNew();
        while (await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %' AND state = 'idle'") < count)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"fewer than {count} instances listen for revocations");
            await Task.Delay(50);
        }
    }

    private Task<HttpResponseMessage> InitiateJsonAsync(string connectionId) =>
        fixture.Server.Client.PostAsync("/api/mcp/oauth/initiate",
            new StringContent(JsonSerializer.Serialize(new { connection_id = connectionId }), Encoding.UTF8, "application/json"));

    private static async Task<Uri> AuthUrlAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return new Uri(JsonDocument.Parse(text).RootElement.GetProperty("authUrl").GetString()!);
    }

    private static Task<HttpResponseMessage> RevokeAsync(SelfHostServer server, string token, string clientId) =>
        server.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = token, ["client_id"] = clientId,
        }));

    private async Task<HttpStatusCode> CallAsync(SelfHostServer server, string accessToken) =>
        (await fixture.SendMcpAsync(accessToken, instance: server)).StatusCode;
}
