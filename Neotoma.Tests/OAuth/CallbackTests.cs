using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>The upstream callback; guide scenarios 2 (OAUTH_STATE_INVALID / OAUTH_STATE_EXPIRED) and 3 (OAUTH_TOKEN_EXCHANGE_FAILED).</summary>
public sealed partial class CallbackTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private Uri CallbackUri => new(fixture.Issuer + "/api/mcp/oauth/callback");

    /// <summary>Consent and upstream sign-in, stopping at the upstream's redirect to our callback.</summary>
    private async Task<(OAuthFixture.RegisteredClient Client, Uri Callback)> ReachCallbackAsync(string login, string clientState = "cs-1")
    {
        var client = await fixture.RegisterAsync();
        using var browser = new BrowserAgent();
        var callback = await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, clientState), CallbackUri, login);
        return (client, callback);
    }

    [Fact]
    public async Task Callback_Success_StoresEncryptedRefreshTokenAndRedirectsWithCodeStateAndIss()
    {
        var (client, callback) = await ReachCallbackAsync("frank", "state-frank");

        var response = await fixture.Server.Client.GetAsync(callback);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.StartsWith(client.RedirectUri.ToString(), location.ToString());
        var query = QueryHelpers.ParseQuery(location.Query);
        Assert.True(query["code"].ToString().Length >= 43);
        Assert.Equal("state-frank", query["state"]);
        Assert.Equal(fixture.Issuer, query["iss"]);
        // Guide, security check 1: "Should look like: abc123:def456:789xyz (hex strings)".
        var stored = await fixture.Database.AdminScalarAsync<string>(
            "SELECT refresh_token FROM mcp_oauth_connections WHERE user_id = 'frank' AND client_id = @c", ("c", client.ClientId));
        Assert.Matches(EncryptedFormat(), stored);
        var events = await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE client_id = @c AND event IN ('oauth_flow_initiated', 'oauth_callback_success') AND success",
            ("c", client.ClientId));
        Assert.Equal(2, events);
    }

    [Fact]
    public async Task Callback_StateCanBeConsumedOnlyOnce_UnderConcurrency()
    {
        var (client, callback) = await ReachCallbackAsync("grace");

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => fixture.Server.Client.GetAsync(callback)));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Redirect));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest));
        foreach (var refused in responses.Where(r => r.StatusCode == HttpStatusCode.BadRequest))
        {
            Assert.Contains("OAUTH_STATE_INVALID", await refused.Content.ReadAsStringAsync());
        }

        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_connections WHERE client_id = @c", ("c", client.ClientId)));
    }

    [Fact]
    public async Task Callback_BackButtonAfterSuccess_SaysStateInvalidWithWhatToDo()
    {
        var (_, callback) = await ReachCallbackAsync("henry");
        await fixture.Server.Client.GetAsync(callback);

        var again = await fixture.Server.Client.GetAsync(callback);
        var html = await again.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        Assert.Equal("text/html; charset=utf-8", again.Content.Headers.ContentType?.ToString());
        Assert.Contains("OAUTH_STATE_INVALID", html);
        Assert.Contains("Start the connection again", html);
    }

    [Theory]
    [InlineData("?code=abc&state=never-issued")]
    [InlineData("?code=abc")]
    public async Task Callback_UnknownOrMissingState_IsStateInvalid(string query)
    {
        var response = await fixture.Server.Client.GetAsync("/api/mcp/oauth/callback" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_STATE_INVALID", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Callback_StateOlderThanTenMinutes_IsStateExpired_AndDeleted()
    {
        var (_, callback) = await ReachCallbackAsync("iris");
        var state = QueryHelpers.ParseQuery(callback.Query)["state"].ToString();
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_state SET created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute' WHERE state = @s", ("s", state));

        var response = await fixture.Server.Client.GetAsync(callback);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("OAUTH_STATE_EXPIRED", html);
        Assert.Contains("10 minutes", html);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state WHERE state = @s", ("s", state)));
    }

    [Fact]
    public async Task Callback_UpstreamRefusesTheCode_IsTokenExchangeFailed_BackAtTheClient()
    {
        var (client, callback) = await ReachCallbackAsync("jack", "cs-jack");
        var state = QueryHelpers.ParseQuery(callback.Query)["state"].ToString();

        var response = await fixture.Server.Client.GetAsync($"/api/mcp/oauth/callback?code=forged-code&state={Uri.EscapeDataString(state)}");

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var query = QueryHelpers.ParseQuery(response.Headers.Location!.Query);
        Assert.Equal("server_error", query["error"]);
        Assert.Equal("OAUTH_TOKEN_EXCHANGE_FAILED", query["error_code"]);
        Assert.Equal("cs-jack", query["state"]);
        Assert.DoesNotContain("forged-code", response.Headers.Location.ToString());
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_connections WHERE client_id = @c", ("c", client.ClientId)));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE client_id = @c AND event = 'oauth_callback_failed' AND error_code = 'OAUTH_TOKEN_EXCHANGE_FAILED'",
            ("c", client.ClientId)));
    }

    [Fact]
    public async Task Callback_ReauthorizingTheSameClient_ReplacesTheEarlierGrant_WhenTheNewCodeIsRedeemed()
    {
        var client = await fixture.RegisterAsync();
        var first = await fixture.AuthorizeAsync("kate", client);
        Assert.Equal(HttpStatusCode.OK, (await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, first.Code, first.Verifier))).StatusCode);
        var second = await fixture.AuthorizeAsync("kate", client);
        Task<long> CountAsync(string where) => fixture.Database.AdminScalarAsync<long>(
            $"SELECT count(*) FROM mcp_oauth_connections WHERE client_id = @c AND user_id = 'kate' AND {where}", ("c", client.ClientId));

        Assert.NotEqual(first.Code, second.Code);
        Assert.Equal(1L, await CountAsync("revoked_at IS NULL AND NOT pending"));
        Assert.Equal(0L, await CountAsync("revoked_at IS NOT NULL"));

        Assert.Equal(HttpStatusCode.OK, (await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, second.Code, second.Verifier))).StatusCode);

        Assert.Equal(1L, await CountAsync("revoked_at IS NULL"));
        Assert.Equal(1L, await CountAsync("revoked_at IS NOT NULL"));
    }

    [GeneratedRegex("^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$")]
    private static partial Regex EncryptedFormat();
}
