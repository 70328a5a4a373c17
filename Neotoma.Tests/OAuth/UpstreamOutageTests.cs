using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Core.Configuration;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

public sealed class ImpatientOAuthFixture : OAuthFixture
{
    protected override void Configure(Dictionary<string, string?> settings) => settings[SettingNames.UpstreamTimeoutSeconds] = "1";
}

/// <summary>
/// The upstream provider on a bad day, with the real dev provider paused (SIGSTOP), killed, answering
/// 503, or switching its signing key: a passing outage is 503 OAUTH_UPSTREAM_UNAVAILABLE with
/// Retry-After and changes nothing, so the client's retry works once the provider is back; only the
/// provider's invalid_grant ends a sign-in (TokenEndpointTests). OIDC Core §10.1.1 for keys.
/// </summary>
[Collection(ProviderOutages)]
public sealed class UpstreamOutageTests(ImpatientOAuthFixture fixture) : IClassFixture<ImpatientOAuthFixture>
{
    /// <summary>These tests stop the class's provider; they run one at a time.</summary>
    public const string ProviderOutages = "Provider outages";

    /// <remarks>
    /// What the retry gets once the provider answers again depends on the provider: a paused
    /// process still receives our request and, when resumed, rotates the refresh token we sent, so
    /// a provider that refuses a rotated token at once (oidc-provider does) then answers the retry
    /// invalid_grant. Entra ID keeps an old refresh token valid and Supabase allows reuse for 10 s,
    /// so there the retry works, as it does here when the provider refused or failed the request
    /// (the 503 and the down tests).
    /// </remarks>
    [Fact]
    public async Task Refresh_WhileTheProviderHangs_Is503WithinTheTimeout_AndChangesNothing()
    {
        var (tokens, client, connection) = await SignInWithUpstreamRefreshDueAsync("hang");
        fixture.Provider.Pause();
        HttpResponseMessage during;
        var clock = Stopwatch.StartNew();
        try
        {
            during = await RefreshAsync(client, tokens.RefreshToken);
        }
        finally
        {
            fixture.Provider.Resume();
        }

        clock.Stop();
        await AssertUnavailableAsync(during);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"answered after {clock.Elapsed}");
        await AssertSignInIntactAsync(tokens, connection);
    }

    [Fact]
    public async Task Refresh_WhileTheProviderAnswers503_Is503_AndWorksOnceItRecovers()
    {
        var (tokens, client, connection) = await SignInWithUpstreamRefreshDueAsync("maintenance");
        await fixture.Provider.SetQuirksAsync(tokenOutage: true);
        HttpResponseMessage during;
        try
        {
            during = await RefreshAsync(client, tokens.RefreshToken);
        }
        finally
        {
            await fixture.Provider.SetQuirksAsync();
        }

        await AssertUnavailableAsync(during);
        await AssertSignInIntactAsync(tokens, connection);
        Assert.Equal(HttpStatusCode.OK, (await RefreshAsync(client, tokens.RefreshToken)).StatusCode);
    }

    [Fact]
    public async Task Refresh_WhileTheProviderIsDown_Is503_AndNothingIsRevoked()
    {
        var (tokens, client, connection) = await SignInWithUpstreamRefreshDueAsync("down");
        await fixture.Provider.DisposeAsync();
        try
        {
            await AssertUnavailableAsync(await RefreshAsync(client, tokens.RefreshToken));
            await AssertSignInIntactAsync(tokens, connection);
        }
        finally
        {
            await fixture.RestartProviderAsync();
        }
    }

    [Fact]
    public async Task Callback_WhenTheProviderHangsAtTheCodeExchange_SendsTheClientTemporarilyUnavailable()
    {
        var client = await fixture.RegisterAsync();
        using var browser = new BrowserAgent();
        var callback = await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, "hung-callback"),
            new Uri(fixture.Issuer + "/api/mcp/oauth/callback"), "hung-callback");
        fixture.Provider.Pause();
        HttpResponseMessage response;
        try
        {
            response = await fixture.Server.Client.GetAsync(callback);
        }
        finally
        {
            fixture.Provider.Resume();
        }

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var landing = QueryHelpers.ParseQuery(response.Headers.Location!.Query);
        Assert.Equal("temporarily_unavailable", landing["error"]);
        Assert.Equal("OAUTH_UPSTREAM_UNAVAILABLE", landing["error_code"]);
        Assert.Equal("hung-callback", landing["state"]);
    }

    [Fact]
    public async Task SignIn_WhenTheProviderSendsExpiresInAsAString_Works()
    {
        await fixture.Provider.SetQuirksAsync(expiresInAsString: true);
        try
        {
            var (tokens, _) = await fixture.SignInAsync("string-expiry");
            Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        }
        finally
        {
            await fixture.Provider.SetQuirksAsync();
        }
    }

    [Fact]
    public async Task SignIn_AfterTheProviderSwitchesSigningKeys_TwiceWithinAMinute_SucceedsFirstTime()
    {
        await fixture.SignInAsync("keys-before");

        for (var rotation = 1; rotation <= 2; rotation++)
        {
            await fixture.RestartProviderAsync();
            var (tokens, _) = await fixture.SignInAsync($"keys-after-{rotation}");
            Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        }
    }

    /// <summary>A signed-in client whose upstream access token is about to expire, so its next refresh needs the provider.</summary>
    private async Task<(OAuthFixture.Tokens Tokens, OAuthFixture.RegisteredClient Client, string Connection)> SignInWithUpstreamRefreshDueAsync(string login)
    {
        var (tokens, client) = await fixture.SignInAsync(login);
        var connection = (await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken))))!;
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() WHERE connection_id = @c", ("c", connection));
        return (tokens, client, connection);
    }

    private Task<HttpResponseMessage> RefreshAsync(OAuthFixture.RegisteredClient client, string refreshToken) =>
        fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken, ["client_id"] = client.ClientId,
        });

    private static async Task AssertUnavailableAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("temporarily_unavailable", body.RootElement.GetProperty("error").GetString());
        Assert.Equal("OAUTH_UPSTREAM_UNAVAILABLE", body.RootElement.GetProperty("error_code").GetString());
    }

    /// <summary>The connection is not revoked, the refresh token not spent, the access token still works.</summary>
    private async Task AssertSignInIntactAsync(OAuthFixture.Tokens tokens, string connection)
    {
        Assert.False(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        Assert.False(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT used_at IS NOT NULL FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.RefreshToken))));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
    }
}

[CollectionDefinition(UpstreamOutageTests.ProviderOutages, DisableParallelization = true)]
public sealed class ProviderOutageCollection;
