using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The connections page's defences at the protocol level: forms need the session's CSRF token and
/// this origin; a person can revoke only their own connections; a sign-in link followed in another
/// browser signs no one in there (login CSRF); sessions are stored as hashes only.
/// </summary>
public sealed class WebSessionSecurityTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    /// <summary>A BrowserAgent signed in to the connections page, with the page's CSRF token.</summary>
    private async Task<(BrowserAgent Browser, string Csrf)> SignedInAsync(string login)
    {
        var browser = new BrowserAgent();
        await browser.SignInAsync(new Uri(fixture.Issuer + "/signin"), new Uri(fixture.Issuer + "/connections"), login);
        var page = await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync();
        return (browser, BrowserAgent.ParseForm(page).Fields["csrf_token"]);
    }

    private static Task<HttpResponseMessage> PostAsync(BrowserAgent browser, string url, Dictionary<string, string> fields, string? origin = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(fields) };
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin);
        }

        return browser.SendAsync(request);
    }

    [Fact]
    public async Task Revoke_WithoutTheCsrfToken_OrFromAnotherSite_ChangesNothing()
    {
        var (tokens, _) = await fixture.SignInAsync("web-henry");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var (browser, csrf) = await SignedInAsync("web-henry");
        using var _ = browser;

        using var noToken = await PostAsync(browser, fixture.Issuer + "/connections/revoke", new() { ["connection_id"] = connection });
        // The first character changed (a token that already began with x stayed valid: 1 run in 64 failed).
        using var wrongToken = await PostAsync(browser, fixture.Issuer + "/connections/revoke", new() { ["connection_id"] = connection, ["csrf_token"] = (csrf[0] == 'x' ? "y" : "x") + csrf[1..] });
        using var otherSite = await PostAsync(browser, fixture.Issuer + "/connections/revoke",
            new() { ["connection_id"] = connection, ["csrf_token"] = csrf }, origin: "https://evil.example");

        Assert.All([noToken, wrongToken, otherSite], r => Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode));
        // The page's own codes, not the consent step's: what happened, and what to do (reload the page).
        Assert.Contains("OAUTH_FORM_EXPIRED", await noToken.Content.ReadAsStringAsync());
        Assert.Contains("OAUTH_FORM_EXPIRED", await wrongToken.Content.ReadAsStringAsync());
        var fromOtherSite = await otherSite.Content.ReadAsStringAsync();
        Assert.Contains("OAUTH_FORM_FROM_OTHER_SITE", fromOtherSite);
        Assert.DoesNotContain("OAUTH_CONSENT_INVALID", fromOtherSite);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
    }

    [Fact]
    public async Task Revoke_OfAnotherPersonsConnection_IsRefusedAndChangesNothing()
    {
        var (victim, _) = await fixture.SignInAsync("web-ivy");
        var (browser, csrf) = await SignedInAsync("web-jack");
        using var _ = browser;

        using var response = await PostAsync(browser, fixture.Issuer + "/connections/revoke",
            new() { ["connection_id"] = await fixture.ConnectionOfAsync(victim.AccessToken), ["csrf_token"] = csrf });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_CONNECTION_NOT_FOUND", await response.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(victim.AccessToken)).StatusCode);
    }

    [Fact]
    public async Task SignInLink_FollowedInAnotherBrowser_SignsNoOneIn()
    {
        // The attacker starts a sign-in and completes it at the provider as themself, but hands the
        // final callback link to the victim instead of following it.
        using var attacker = new BrowserAgent();
        var callback = await attacker.SignInAsync(new Uri(fixture.Issuer + "/signin"), new Uri(fixture.Issuer + "/api/mcp/oauth/callback"), "web-mallory");
        using var victim = new BrowserAgent();

        using var response = await victim.GetAsync(callback);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("started in another browser", WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync()));
        Assert.DoesNotContain(response.Headers.TryGetValues("Set-Cookie", out var set) ? set : [], c => c.StartsWith("neotoma_session=", StringComparison.Ordinal));
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE user_id = 'web-mallory'"));
    }

    [Fact]
    public async Task Session_IsStoredAsAHash_AndItsCookieIsHttpOnlyAndLax()
    {
        using var browser = new BrowserAgent();
        await browser.SignInAsync(new Uri(fixture.Issuer + "/signin"), new Uri(fixture.Issuer + "/connections"), "web-kate");

        var cookie = browser.Cookies.GetCookies(new Uri(fixture.Issuer)).Single(c => c.Name == "neotoma_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal("/", cookie.Path);
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE session_hash = @v", ("v", cookie.Value)));
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE session_hash = @v",
            ("v", Neotoma.Core.Security.OpaqueToken.Hash(cookie.Value))));
    }

    /// <summary>
    /// A remembered approval skips the explanation and the provider, never the person's click: the
    /// authorization request alone (which any page can cause) gives no code and changes nothing; the
    /// Continue form of this origin does. The connection has no upstream tokens; it redeems,
    /// refreshes and calls tools all the same.
    /// </summary>
    [Fact]
    public async Task RememberedApproval_NeedsTheContinueClick_ThenItsTokensRefreshAndWork()
    {
        var client = await fixture.RegisterAsync(name: "Remembered by protocol");
        using var browser = new BrowserAgent();
        await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, "web-liam");
        var connections = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'web-liam' AND revoked_at IS NULL");
        var (verifier, challenge) = OAuthFixture.NewPkce();

        using var shown = await browser.GetAsync(fixture.AuthorizeUrl(client, challenge, state: "again"));
        Assert.Equal(HttpStatusCode.OK, shown.StatusCode);
        Assert.Null(shown.Headers.Location);
        var page = await shown.Content.ReadAsStringAsync();
        Assert.Contains("value=\"continue\"", page);
        Assert.DoesNotContain("code=", page);
        Assert.Equal(connections, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'web-liam' AND revoked_at IS NULL"));

        // The person clicks Continue: straight back to the client, the provider never asked.
        var visited = browser.Visited.Count;
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge, state: "again"), client.RedirectUri, "web-liam")).Query);
        Assert.Equal("again", landing["state"]);
        Assert.DoesNotContain(browser.Visited.Skip(visited), v => v.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/'), StringComparison.Ordinal));
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(
            OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier)));
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = tokens.RefreshToken,
            ["client_id"] = client.ClientId,
        }));

        using var call = await fixture.SendMcpAsync(refreshed.AccessToken);
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'consent_remembered' AND user_id = 'web-liam'"));
    }

    /// <summary>
    /// A person who signed a client in (so the approval is remembered), then was shown the Continue
    /// page for it again: their browser, the client, where the form posts, and its fields with Continue chosen.
    /// </summary>
    private async Task<(BrowserAgent Browser, OAuthFixture.RegisteredClient Client, Uri Action, Dictionary<string, string> Fields)> ContinueFormAsync(string clientName, string login)
    {
        var client = await fixture.RegisterAsync(name: clientName);
        var browser = new BrowserAgent();
        await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, login);
        var page = await (await browser.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge))).Content.ReadAsStringAsync();
        var (action, fields) = BrowserAgent.ParseForm(page);
        fields["decision"] = "continue";
        return (browser, client, new Uri(new Uri(fixture.Issuer), action), fields);
    }

    /// <summary>The Continue form posted from another site, or without the cookie this browser was shown it with, gives no code.</summary>
    [Theory]
    [InlineData("another site")]
    [InlineData("another browser")]
    public async Task RememberedApproval_ContinuePostedFromElsewhere_GivesNoCode(string from)
    {
        var (browser, _, url, fields) = await ContinueFormAsync("Remembered, forged", "web-olga");
        using var _browser = browser;
        var codes = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_codes");

        using var response = from == "another site"
            ? await PostAsync(browser, url.ToString(), fields, origin: "https://evil.example")
            : await new BrowserAgent().PostFormAsync(url, fields);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_CONSENT_INVALID", await response.Content.ReadAsStringAsync());
        Assert.Equal(codes, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_codes"));
    }

    [Fact]
    public async Task RememberedApproval_DoesNotCoverAWiderScope()
    {
        var client = await fixture.RegisterAsync(name: "Narrow first");
        using var browser = new BrowserAgent();
        await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge,
            extra: new Dictionary<string, string?> { ["scope"] = "neotoma:read" }), client.RedirectUri, "web-mia");

        using var wider = await browser.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));

        Assert.Equal(HttpStatusCode.OK, wider.StatusCode);
        Assert.Contains("name=\"decision\"", await wider.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task PersonalToken_PastItsExpiry_IsRefusedAndMarkedExpiredOnThePage()
    {
        var (browser, csrf) = await SignedInAsync("web-nina");
        using var _ = browser;
        using var created = await PostAsync(browser, fixture.Issuer + "/connections/tokens",
            new() { ["name"] = "Old script", ["days"] = "1", ["csrf_token"] = csrf });
        var token = System.Text.RegularExpressions.Regex.Match(await created.Content.ReadAsStringAsync(), "<pre data-copy id=\"token\">(?<t>[^<]+)</pre>").Groups["t"].Value;
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(token)).StatusCode);

        await fixture.Database.AdminExecuteAsync("""
            UPDATE mcp_oauth_connections SET expires_at = now() - interval '1 minute' WHERE user_id = 'web-nina' AND origin = 'personal';
            UPDATE mcp_oauth_tokens SET expires_at = now() - interval '1 minute' WHERE user_id = 'web-nina' AND client_id = 'personal';
            """);
        var page = WebUtility.HtmlDecode(await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(token)).StatusCode);
        Assert.Contains("Old script", page);
        Assert.Contains("expired", page);
        Assert.Contains("no longer accepted", page);
    }

    [Fact]
    public async Task ConnectionsPage_SignedOut_OffersSignInAndShowsNothingElse()
    {
        using var response = await fixture.Server.Client.GetAsync("/connections");
        var page = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("href=\"/signin\"", page);
        Assert.DoesNotContain("csrf_token", page);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
    }

    /// <summary>Revoke means the client must ask the person again: its remembered approval goes with the connection.</summary>
    [Fact]
    public async Task Revoke_AlsoForgetsTheClientsRememberedApproval_SoTheConsentPageComesBack()
    {
        var client = await fixture.RegisterAsync(name: "Revoked and forgotten");
        using var person = new BrowserAgent();
        await person.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, "web-paul");
        Assert.Contains("value=\"continue\"", await (await person.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge))).Content.ReadAsStringAsync());
        var connection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_connections WHERE user_id = 'web-paul' AND client_id = @c AND revoked_at IS NULL", ("c", client.ClientId));
        var csrf = BrowserAgent.ParseForm(await (await person.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync()).Fields["csrf_token"];

        using var revoked = await PostAsync(person, fixture.Issuer + "/connections/revoke", new() { ["connection_id"] = connection!, ["csrf_token"] = csrf });

        Assert.True(revoked.StatusCode is HttpStatusCode.OK or HttpStatusCode.Redirect or HttpStatusCode.SeeOther, revoked.StatusCode.ToString());
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_consents WHERE user_id = 'web-paul' AND client_id = @c", ("c", client.ClientId)));
        var page = await (await person.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge))).Content.ReadAsStringAsync();
        Assert.Contains("value=\"approve\"", page);
        Assert.DoesNotContain("value=\"continue\"", page);
    }

    /// <summary>A stolen cookie or a lost laptop: Sign out everywhere ends every session of the person on every device, and no one else's.</summary>
    [Fact]
    public async Task SignOutEverywhere_EndsEverySessionOfThePerson_AndNoOneElses()
    {
        var (laptop, csrf) = await SignedInAsync("web-quinn");
        var (phone, _) = await SignedInAsync("web-quinn");
        var (someoneElse, _) = await SignedInAsync("web-rita");
        using var _laptop = laptop;
        using var _phone = phone;
        using var _other = someoneElse;
        const string sessionsOf = "SELECT count(*) FROM mcp_oauth_web_sessions WHERE user_id = @u";
        Assert.Equal(2, await fixture.Database.AdminScalarAsync<long>(sessionsOf, ("u", "web-quinn")));

        using var response = await PostAsync(laptop, fixture.Issuer + "/signout", new() { ["csrf_token"] = csrf, ["everywhere"] = "1" });

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>(sessionsOf, ("u", "web-quinn")));
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(sessionsOf, ("u", "web-rita")));
        var phonePage = await (await phone.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync();
        Assert.Contains("href=\"/signin\"", phonePage);
        Assert.DoesNotContain("web-quinn", phonePage);
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'web_signed_out_everywhere' AND user_id = 'web-quinn'"));
    }

    /// <summary>
    /// A page left open on a phone after "Sign out everywhere" on the laptop: its form (with the CSRF
    /// token it was given) is refused with the page's own code, 403 OAUTH_WEB_SESSION_ENDED, and changes nothing.
    /// </summary>
    [Fact]
    public async Task FormOfAPageWhoseSessionEnded_IsRefusedWithWebSessionEnded_AndChangesNothing()
    {
        var (tokens, _) = await fixture.SignInAsync("web-rosa", clientName: "Rosa's Agent");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var (laptop, laptopCsrf) = await SignedInAsync("web-rosa");
        var (phone, phoneCsrf) = await SignedInAsync("web-rosa");
        using var _laptop = laptop;
        using var _phone = phone;
        using (var everywhere = await PostAsync(laptop, fixture.Issuer + "/signout", new() { ["csrf_token"] = laptopCsrf, ["everywhere"] = "1" }))
        {
            Assert.Equal(HttpStatusCode.Redirect, everywhere.StatusCode);
        }

        using var response = await PostAsync(phone, fixture.Issuer + "/connections/revoke", new() { ["connection_id"] = connection, ["csrf_token"] = phoneCsrf });

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var page = await response.Content.ReadAsStringAsync();
        Assert.Contains("OAUTH_WEB_SESSION_ENDED", page);
        Assert.Contains("login_required", page);
        Assert.DoesNotContain("OAUTH_CONSENT_INVALID", page);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
    }

    /// <summary>Revoke all: every connection and personal token, every remembered approval and every session of the person end at once; another person's stay.</summary>
    [Fact]
    public async Task RevokeAll_EndsEveryConnectionTokenApprovalAndSessionOfThePerson()
    {
        var (first, _) = await fixture.SignInAsync("web-sam", clientName: "First");
        var (second, _) = await fixture.SignInAsync("web-sam", clientName: "Second");
        var (bystander, _) = await fixture.SignInAsync("web-tess");
        var (laptop, csrf) = await SignedInAsync("web-sam");
        var (phone, _) = await SignedInAsync("web-sam");
        using var _laptop = laptop;
        using var _phone = phone;
        using var created = await PostAsync(laptop, fixture.Issuer + "/connections/tokens", new() { ["name"] = "Script", ["days"] = "30", ["csrf_token"] = csrf });
        var personal = System.Text.RegularExpressions.Regex.Match(await created.Content.ReadAsStringAsync(), "<pre data-copy id=\"token\">(?<t>[^<]+)</pre>").Groups["t"].Value;
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(personal)).StatusCode);

        using var response = await PostAsync(laptop, fixture.Issuer + "/connections/revoke-all", new() { ["csrf_token"] = csrf });

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        foreach (var token in new[] { first.AccessToken, second.AccessToken, personal })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(token)).StatusCode);
        }

        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'web-sam' AND revoked_at IS NULL"));
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_consents WHERE user_id = 'web-sam'"));
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE user_id = 'web-sam'"));
        Assert.Contains("href=\"/signin\"", await (await phone.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(bystander.AccessToken)).StatusCode);
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'revoked_everything' AND user_id = 'web-sam'"));
    }

    /// <summary>
    /// Personal tokens live at most PERSONAL_TOKEN_MAX_DAYS (90): a longer one cannot be made, and one
    /// made earlier for longer (up to 365 days before) ends 90 days after it was made.
    /// </summary>
    [Fact]
    public async Task PersonalToken_LivesAtMostTheMaximum_EvenOneIssuedForLonger()
    {
        var (browser, csrf) = await SignedInAsync("web-ursula");
        using var _ = browser;
        using var tooLong = await PostAsync(browser, fixture.Issuer + "/connections/tokens", new() { ["name"] = "Forever", ["days"] = "91", ["csrf_token"] = csrf });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        Assert.Contains("1 to 90 days", await tooLong.Content.ReadAsStringAsync());

        using var created = await PostAsync(browser, fixture.Issuer + "/connections/tokens", new() { ["name"] = "Issued long ago", ["days"] = "90", ["csrf_token"] = csrf });
        var token = System.Text.RegularExpressions.Regex.Match(await created.Content.ReadAsStringAsync(), "<pre data-copy id=\"token\">(?<t>[^<]+)</pre>").Groups["t"].Value;
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(token)).StatusCode);

        // As a token made 100 days ago for 365 days (when the limit was 365) would stand in the tables.
        await fixture.Database.AdminExecuteAsync("""
            UPDATE mcp_oauth_connections SET created_at = now() - interval '100 days', expires_at = now() + interval '265 days' WHERE user_id = 'web-ursula' AND origin = 'personal';
            UPDATE mcp_oauth_tokens SET created_at = now() - interval '100 days', expires_at = now() + interval '265 days' WHERE user_id = 'web-ursula' AND client_id = 'personal';
            """);

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(token)).StatusCode);
        var page = WebUtility.HtmlDecode(await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync());
        Assert.Contains("Personal token, expired", page);
    }

    /// <summary>
    /// A Continue page left open while the person signs out, or forgets or revokes the approval: its
    /// click sends nothing (no code, no provider sign-in that would store the approval again unseen).
    /// </summary>
    [Theory]
    [InlineData("signed out")]
    [InlineData("forgotten")]
    public async Task ContinuePage_LeftOpen_AfterSignOutOrForget_SendsNoCode(string meanwhile)
    {
        var (person, client, url, fields) = await ContinueFormAsync("Left open", "web-vera");
        using var _person = person;
        var csrf = BrowserAgent.ParseForm(await (await person.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync()).Fields["csrf_token"];
        using (var done = meanwhile == "signed out"
            ? await PostAsync(person, fixture.Issuer + "/signout", new() { ["csrf_token"] = csrf })
            : await PostAsync(person, fixture.Issuer + "/connections/forget", new() { ["client_id"] = client.ClientId, ["redirect_uri"] = client.RedirectUri.ToString(), ["csrf_token"] = csrf }))
        {
            Assert.Equal(HttpStatusCode.Redirect, done.StatusCode);
        }

        var codes = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_codes");
        var states = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state");

        using var response = await person.PostFormAsync(url, fields);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_CONSENT_INVALID", await response.Content.ReadAsStringAsync());
        Assert.Equal(codes, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_codes"));
        Assert.Equal(states, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state"));
    }
}
