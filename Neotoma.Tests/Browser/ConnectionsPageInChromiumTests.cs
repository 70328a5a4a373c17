using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Tests.Infrastructure;
using Neotoma.Tests.WorkerPath;

namespace Neotoma.Tests.Browser;

/// <summary>
/// The connections page as a person uses it, in headless Chromium: sign in through the provider,
/// see the connections two real MCP SDK clients made, revoke one (its client is refused at once,
/// the other keeps working), remembered consent and Forget, a personal token used by the SDK client
/// until revoked. Every page: no console error, no CSP violation, readable at 375 px. Runs on the
/// self-host and in the real worker over the Functions RPC protocol (session cookies, form posts
/// and revocation's notifications through the worker).
/// </summary>
public abstract class ConnectionsPageInChromiumSuite<TFixture>(ChromiumFixture chromium, TFixture fixture) : IAsyncLifetime
    where TFixture : OAuthFixture
{
    private ClientSite site = null!;

    public async Task InitializeAsync() => site = await ClientSite.StartAsync();

    public async Task DisposeAsync() => await site.DisposeAsync();

    private string PageUrl => fixture.Issuer + "/connections";

    /// <summary>Opens the page signed out, follows "Sign in" through the provider, and lands back on the page.</summary>
    private async Task SignInOnThePageAsync(BrowserPage browser, string login)
    {
        await browser.Page.GoToAsync(PageUrl);
        Assert.Contains("Sign in", await browser.TextAsync());
        await browser.ClickAndWaitAsync("a[href='/signin']");
        await browser.SignInAsync(fixture, login, approve: true,
            async () => await browser.UrlAsync() == PageUrl && await browser.HasAsync("#user"));
    }

    private static Task<IReadOnlyList<string>> RowsAsync(BrowserPage browser, string list) =>
        browser.Page.EvaluateExpressionAsync<IReadOnlyList<string>>($"[...document.querySelectorAll('#{list} > li')].map(li => li.innerText)");

    [Fact]
    public async Task Person_SeesTwoSdkConnections_RevokesOne_ItsClientIsRefused_TheOtherKeepsWorking()
    {
        var (first, _) = await fixture.SignInAsync("page-alice", clientName: "Alpha Agent");
        var (second, _) = await fixture.SignInAsync("page-alice", clientName: "Beta Agent");
        await using var alpha = await fixture.ConnectWithTokenAsync(first.AccessToken);
        await using var beta = await fixture.ConnectWithTokenAsync(second.AccessToken);
        await alpha.CallToolAsync("get_authenticated_user");

        await using var browser = await chromium.OpenAsync();
        await SignInOnThePageAsync(browser, "page-alice");
        var rows = await RowsAsync(browser, "connections");
        Assert.Contains(rows, r => r.Contains("Alpha Agent") && r.Contains("OAuth client") && r.Contains("neotoma:read neotoma:write"));
        Assert.Contains(rows, r => r.Contains("Beta Agent"));
        Assert.Contains("Cursor", await browser.TextAsync());
        await browser.ScreenshotAsync("connections-desktop");

        var alphaConnection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", Neotoma.Core.Security.OpaqueToken.Hash(first.AccessToken)));
        await browser.ClickAndWaitAsync($"li[data-connection='{alphaConnection}'] button");
        rows = await RowsAsync(browser, "connections");

        Assert.Single(rows);
        Assert.Contains("Beta Agent", rows[0]);
        await Assert.ThrowsAnyAsync<Exception>(() => alpha.CallToolAsync("get_authenticated_user").AsTask());
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(first.AccessToken)).StatusCode);
        var stillWorks = await beta.CallToolAsync("get_authenticated_user");
        Assert.NotEqual(true, stillWorks.IsError);
        // The activity reads as what happened, with the client's name, not the audit event's.
        var activity = await RowsAsync(browser, "activity");
        Assert.Contains(activity, r => r.StartsWith("Connection of Alpha Agent revoked", StringComparison.Ordinal) && r.Contains("just now"));
        Assert.Contains(activity, r => r.StartsWith("Alpha Agent connected", StringComparison.Ordinal));
        Assert.DoesNotContain(activity, r => r.Contains("connection_revoked") || r.Contains("oauth_callback_success"));
        // Beta still holds the person's provider tokens, which may share Alpha's grant there: Alpha's is kept to expire.
        Assert.True(fixture.Logs.Lines.Any(l => l.Contains($"Kept the upstream token of connection: {alphaConnection} at the provider")),
            string.Join("\n", fixture.Logs.Lines.Where(l => l.Contains("revoke", StringComparison.OrdinalIgnoreCase) || l.Contains("refresh token"))));
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task Page_IsReadableAt375Pixels_WithoutScriptProblems()
    {
        await fixture.SignInAsync("page-narrow", clientName: "A client with a rather long name that must wrap on a phone screen");
        await using var browser = await chromium.OpenAsync(width: 375);

        await SignInOnThePageAsync(browser, "page-narrow");

        Assert.True(await browser.FitsWidthAsync(), "the connections page scrolls sideways at 375 px");
        Assert.True(await browser.HasAsync("pre[data-copy] + button"), "connections.js added no copy button");
        await browser.ScreenshotAsync("connections-375");
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task RememberedConsent_AsksOnlyToContinue_AndForgetBringsTheConsentPageBack()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString(), "Remembered Client");
        await using var browser = await chromium.OpenAsync();

        // First time: the consent page and the provider, as always.
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "first").ToString());
        Assert.True(await browser.HasAsync("button[value=approve]"));
        await browser.SignInAsync(fixture, "page-carol", approve: true, () => site.ShownAsync(browser));

        // Second time, signed in by the first: one click on Continue, no provider, back to the client with a code.
        var shown = new List<string>();
        browser.Page.Response += (_, e) => { lock (shown) { shown.Add(e.Response.Url); } };
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "second").ToString());
        Assert.Contains("You approved Remembered Client before", await browser.TextAsync());
        Assert.Single(site.Callbacks);
        await browser.ScreenshotAsync("continue-desktop");
        await browser.ClickAndWaitAsync("button[value=continue]");
        await browser.WaitUntilAsync(() => site.ShownAsync(browser, 2), "the second callback");
        Assert.Contains("state=second", site.Callbacks.Last().Query);
        Assert.DoesNotContain(shown, url => url.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/'), StringComparison.Ordinal));

        await browser.Page.GoToAsync(PageUrl);
        Assert.Contains(await RowsAsync(browser, "consents"), r => r.Contains("Remembered Client"));
        await browser.ClickAndWaitAsync("#consents form button");
        Assert.False(await browser.HasAsync("#consents"));

        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "third").ToString());
        Assert.True(await browser.HasAsync("button[value=approve]"), "after Forget the consent page must come back");
        browser.AssertNoProblems();
    }

    /// <summary>
    /// A page on another origin sends a signed-in person's browser to the authorization endpoint of a
    /// client they approved before (as any page can): the browser shows the Continue page, and no code
    /// reaches the client's redirect, no connection is made or replaced, until the person clicks.
    /// </summary>
    [Fact]
    public async Task PageOnAnotherOrigin_SendsTheBrowserToAuthorize_NoCodeWithoutTheClick()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString(), "Loopback Agent");
        await using var browser = await chromium.OpenAsync(width: 375);
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "person").ToString());
        await browser.SignInAsync(fixture, "page-hugo", approve: true, () => site.ShownAsync(browser));
        const string live = "SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'page-hugo' AND revoked_at IS NULL";
        var connections = await fixture.Database.AdminScalarAsync<long>(live);

        var attack = fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "attacker");
        await browser.Page.GoToAsync(new Uri(site.Origin, "/go?to=" + Uri.EscapeDataString(attack.ToString())).ToString());
        await browser.WaitUntilAsync(() => browser.HasAsync("button[value=continue]"), "the Continue page");

        Assert.Equal(fixture.Issuer, new Uri(await browser.UrlAsync()).GetLeftPart(UriPartial.Authority));
        Assert.Single(site.Callbacks);
        Assert.Equal(connections, await fixture.Database.AdminScalarAsync<long>(live));
        Assert.True(await browser.FitsWidthAsync(), "the Continue page scrolls sideways at 375 px");
        await browser.ScreenshotAsync("continue-375");

        await browser.ClickAndWaitAsync("button[value=deny]");
        await browser.WaitUntilAsync(() => site.ShownAsync(browser, 2), "the client's redirect");
        var denied = QueryHelpers.ParseQuery(site.Callbacks.Last().Query);
        Assert.Equal("access_denied", denied["error"]);
        Assert.Equal("attacker", denied["state"]);
        Assert.False(denied.ContainsKey("code"));
        Assert.Equal(connections, await fixture.Database.AdminScalarAsync<long>(live));
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task PersonalToken_CreatedOnThePage_WorksWithTheSdkClient_UntilRevoked()
    {
        await using var browser = await chromium.OpenAsync();
        await SignInOnThePageAsync(browser, "page-dave");

        await browser.TypeAsync("input[name=name]", "Nightly script");
        await browser.Page.EvaluateExpressionAsync("document.querySelector('input[name=days]').value = '30'");
        await browser.ClickAndWaitAsync("form[action='/connections/tokens'] button");
        var token = await browser.Page.EvaluateExpressionAsync<string>("document.getElementById('token').textContent");
        Assert.Contains("not shown again", await browser.TextAsync());
        Assert.DoesNotContain(token, browser.Page.Url);

        await using (var client = await fixture.ConnectWithTokenAsync(token))
        {
            var who = await client.CallToolAsync("get_authenticated_user");
            Assert.Contains("\"user_id\":\"page-dave\"", Assert.IsType<TextContentBlock>(Assert.Single(who.Content)).Text);
        }

        await browser.Page.GoToAsync(PageUrl);
        var rows = await RowsAsync(browser, "connections");
        // Used seconds ago: said relative to now, with the absolute UTC time in the time element.
        Assert.Contains(rows, r => r.Contains("Nightly script") && r.Contains("Personal token") && r.Contains("last used just now"));
        var lastUsed = await browser.Page.EvaluateExpressionAsync<string>("[...document.querySelectorAll('#connections time')].at(-1).getAttribute('datetime')");
        Assert.True(DateTimeOffset.UtcNow - DateTimeOffset.Parse(lastUsed, System.Globalization.CultureInfo.InvariantCulture) < TimeSpan.FromMinutes(1), lastUsed);
        await browser.ClickAndWaitAsync("#connections form button");

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(token)).StatusCode);
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task TwoPeople_EachSeeOnlyTheirOwnConnections()
    {
        await fixture.SignInAsync("page-erin", clientName: "Erin's Agent");
        await fixture.SignInAsync("page-frank", clientName: "Frank's Agent");
        await using var erin = await chromium.OpenAsync();
        await using var frank = await chromium.OpenAsync();

        await SignInOnThePageAsync(erin, "page-erin");
        await SignInOnThePageAsync(frank, "page-frank");

        var erinsText = await erin.TextAsync();
        var franksText = await frank.TextAsync();
        Assert.Contains("Erin's Agent", erinsText);
        Assert.DoesNotContain("Frank's Agent", erinsText);
        Assert.Contains("Frank's Agent", franksText);
        Assert.DoesNotContain("Erin's Agent", franksText);
    }

    [Fact]
    public async Task RevokeAll_EndsTheConnections_AndSignsThePageOut()
    {
        var (tokens, _) = await fixture.SignInAsync("page-ivan", clientName: "Ivan's Agent");
        await using var browser = await chromium.OpenAsync(width: 375);
        await SignInOnThePageAsync(browser, "page-ivan");
        Assert.True(await browser.FitsWidthAsync(), "the connections page scrolls sideways at 375 px");

        await browser.ClickAndWaitAsync("form[action='/connections/revoke-all'] button");

        Assert.Equal(PageUrl, await browser.UrlAsync());
        Assert.True(await browser.HasAsync("a[href='/signin']"), "the page is signed out after Revoke all");
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        browser.AssertNoProblems();
    }

    /// <summary>A page whose form token no longer holds (left open, or forged): the page's own code, a way back, nothing changed.</summary>
    [Fact]
    public async Task RevokeWithAnExpiredFormToken_ShowsThePagesOwnError_AndChangesNothing()
    {
        var (tokens, _) = await fixture.SignInAsync("page-jules", clientName: "Jules's Agent");
        await using var browser = await chromium.OpenAsync(width: 375);
        await SignInOnThePageAsync(browser, "page-jules");
        await browser.Page.EvaluateExpressionAsync("document.querySelectorAll('input[name=csrf_token]').forEach(i => i.value = '9999999999.forged')");

        var navigation = browser.Page.WaitForNavigationAsync();
        await browser.Page.ClickAsync("li[data-connection] button");
        var response = await navigation;

        Assert.NotNull(response);
        Assert.Equal(HttpStatusCode.BadRequest, response.Status);
        var text = await browser.TextAsync();
        Assert.Contains("Nothing was changed", text);
        Assert.Contains("OAUTH_FORM_EXPIRED", text);
        Assert.True(await browser.HasAsync("a[href='/connections']"), "the error offers the way back to the page");
        Assert.True(await browser.FitsWidthAsync(), "the OAUTH_FORM_EXPIRED page scrolls sideways at 375 px");
        await browser.ScreenshotAsync("error-form-expired");
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        // A 4xx document is reported by Chromium itself as a failed resource load; nothing else may appear.
        browser.AssertNoProblems(p => p.Contains("the server responded with a status of 400", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SignOut_EndsTheSession()
    {
        await using var browser = await chromium.OpenAsync();
        await SignInOnThePageAsync(browser, "page-gina");

        await browser.ClickAndWaitAsync("form[action='/signout'] button");

        Assert.Equal(PageUrl, browser.Page.Url);
        Assert.False(await browser.HasAsync("#user"));
        Assert.Equal(0, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE user_id = 'page-gina'"));
        browser.AssertNoProblems();
    }
}

[Collection(BrowserCollection.Name)]
public sealed class ConnectionsPageInChromiumTests(ChromiumFixture chromium, OAuthFixture fixture)
    : ConnectionsPageInChromiumSuite<OAuthFixture>(chromium, fixture), IClassFixture<OAuthFixture>;

[Collection(BrowserCollection.Name)]
public sealed class WorkerPathConnectionsPageInChromiumTests(ChromiumFixture chromium, WorkerPathFixture fixture)
    : ConnectionsPageInChromiumSuite<WorkerPathFixture>(chromium, fixture), IClassFixture<WorkerPathFixture>;
