using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Functions;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// RFC 6749 §4.1.1-4.1.2.1 and OAuth 2.1: errors before the client and redirect URI are
/// trusted are shown, later ones go back to the client with state and iss; consent is mandatory.
/// </summary>
public sealed class AuthorizationEndpointTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    [Fact]
    public async Task Authorize_UnknownClient_IsShownNotRedirected()
    {
        var client = new OAuthFixture.RegisteredClient("mcp_unknown", new Uri("http://127.0.0.1:8787/callback"));

        var response = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Contains("OAUTH_INVALID_CLIENT", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Authorize_UnregisteredRedirectUri_IsShownNotRedirected()
    {
        var client = await fixture.RegisterAsync();
        var attacker = client with { RedirectUri = new Uri("https://attacker.example/steal") };

        var response = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(attacker, OAuthFixture.NewPkce().Challenge));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Contains("OAUTH_INVALID_REDIRECT_URI", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Authorize_LoopbackRedirectWithAnotherPort_IsAccepted_Rfc8252()
    {
        var client = await fixture.RegisterAsync("http://127.0.0.1:8787/callback");
        var otherPort = client with { RedirectUri = new Uri("http://127.0.0.1:51234/callback") };

        var response = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(otherPort, OAuthFixture.NewPkce().Challenge));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("http://127.0.0.1:51234/callback", WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync()));
    }

    [Theory]
    [InlineData("code_challenge", null, "invalid_request")]
    [InlineData("code_challenge_method", "plain", "invalid_request")]
    [InlineData("response_type", "token", "unsupported_response_type")]
    [InlineData("scope", "admin", "invalid_scope")]
    [InlineData("resource", "https://other.example/mcp", "invalid_target")]
    public async Task Authorize_BadParameterAfterTrust_RedirectsWithErrorStateAndIss(string parameter, string? value, string error)
    {
        var client = await fixture.RegisterAsync();
        var url = fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, "xyz", new Dictionary<string, string?> { [parameter] = value });

        var response = await fixture.Server.Client.GetAsync(url);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.StartsWith(client.RedirectUri.ToString(), location.ToString());
        var query = QueryHelpers.ParseQuery(location.Query);
        Assert.Equal(error, query["error"]);
        Assert.Equal("xyz", query["state"]);
        Assert.Equal(fixture.Issuer, query["iss"]);
    }

    [Fact]
    public async Task Authorize_WithoutScope_ShowsConsentWithClientNameRedirectHostAndFramingBlocked()
    {
        var client = await fixture.RegisterAsync("cursor://anysphere.cursor-mcp/oauth/callback", "Cursor <b>Pro</b>");

        var response = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("frame-ancestors 'none'", response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("Cursor &lt;b&gt;Pro&lt;/b&gt;", html);
        Assert.Contains("cursor://anysphere.cursor-mcp", html);
        Assert.Contains("name=\"csrf_token\"", html);
        Assert.Contains("value=\"approve\"", html);
        Assert.Contains("value=\"deny\"", html);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task Consent_Deny_SendsAccessDeniedToTheClient()
    {
        var client = await fixture.RegisterAsync();
        using var browser = new BrowserAgent();

        var landing = await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, "s-deny"), client.RedirectUri, "dora", approve: false);

        var query = QueryHelpers.ParseQuery(landing.Query);
        Assert.Equal("access_denied", query["error"]);
        Assert.Equal("s-deny", query["state"]);
        Assert.Equal(fixture.Issuer, query["iss"]);
        Assert.DoesNotContain(browser.Visited, v => v.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/')));
    }

    [Fact]
    public async Task Consent_PostedWithoutTheBrowsersCookie_IsRefused()
    {
        var client = await fixture.RegisterAsync();
        var page = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));
        Assert.StartsWith("neotoma_consent=", page.Headers.GetValues("Set-Cookie").Single());
        var (action, fields) = BrowserAgent.ParseForm(await page.Content.ReadAsStringAsync());
        fields["decision"] = "approve";
        var states = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state");

        // A cross-site form post carries the fields but not the SameSite=Strict cookie
        // (the test client keeps no cookies, so the one set with the page is not sent back).
        var response = await fixture.Server.Client.PostAsync(action, new FormUrlEncodedContent(fields));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_CONSENT_INVALID", await response.Content.ReadAsStringAsync());
        Assert.Equal(states, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state"));
    }

    [Fact]
    public async Task Consent_PostedFromAnotherSite_IsRefused_EvenWithTheBrowsersCookie()
    {
        var client = await fixture.RegisterAsync();
        using var browser = new BrowserAgent();
        var page = await browser.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));
        var (action, fields) = BrowserAgent.ParseForm(await page.Content.ReadAsStringAsync());
        fields["decision"] = "approve";
        var states = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state");

        using var post = new HttpRequestMessage(HttpMethod.Post, new Uri(fixture.BaseAddress, action)) { Content = new FormUrlEncodedContent(fields) };
        post.Headers.Add("Origin", "https://evil.example");
        var response = await browser.SendAsync(post);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_CONSENT_INVALID", await response.Content.ReadAsStringAsync());
        Assert.Equal(states, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state"));
    }

    [Fact]
    public async Task Consent_Approve_CreatesA256BitStateThatLivesTenMinutes_AndGoesUpstream()
    {
        var client = await fixture.RegisterAsync();
        using var browser = new BrowserAgent();
        var callback = new Uri(fixture.Issuer + "/api/mcp/oauth/callback");

        var landing = await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), callback, "erin");

        var state = QueryHelpers.ParseQuery(landing.Query)["state"].ToString();
        Assert.True(state.Length >= 43, "state must carry at least 256 bits");
        var lifetime = await fixture.Database.AdminScalarAsync<double>(
            "SELECT extract(epoch FROM expires_at - created_at)::float8 FROM mcp_oauth_state WHERE state = @s", ("s", state));
        Assert.Equal(600, lifetime, 1);
    }

    [Fact]
    public async Task InitiateJson_ReturnsAuthUrlConnectionAndExpiry()
    {
        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/initiate",
            new StringContent("{\"connection_id\":\"cursor-2025-01-27-abc123\",\"client_name\":\"Cursor\"}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("cursor-2025-01-27-abc123", body.RootElement.GetProperty("connectionId").GetString());
        Assert.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/') + "/auth?", body.RootElement.GetProperty("authUrl").GetString());
        Assert.True(body.RootElement.GetProperty("expiresAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(9));
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    [InlineData("ünïcode")]
    public async Task InitiateJson_MalformedConnectionId_Is400NamingTheRule(string connectionId)
    {
        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/initiate",
            new StringContent(JsonSerializer.Serialize(new { connection_id = connectionId }), System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("^[A-Za-z0-9_-]{1,100}$", JsonDocument.Parse(text).RootElement.GetProperty("error_description").GetString());
    }
}
