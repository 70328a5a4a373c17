using System.Net;
using System.Text.Json;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Browser;

/// <summary>
/// Issue 25, "The person's page": access an organization's IdP granted a client (an ID-JAG) is on the
/// connections page (client, IdP, scope, last use); Revoke blocks the client for the person against every
/// fresh ID-JAG until Allow again, in headless Chromium, with no console error or CSP violation.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class EnterpriseAccessInChromiumTests(ChromiumFixture chromium, EnterpriseFixture fixture) : IClassFixture<EnterpriseFixture>
{
    private string PageUrl => fixture.Issuer + "/connections";

    private async Task<HttpResponseMessage> GrantAsync(string login) => await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims(login)));

    private static Task<IReadOnlyList<string>> RowsAsync(BrowserPage browser, string list) =>
        browser.Page.EvaluateExpressionAsync<IReadOnlyList<string>>($"[...document.querySelectorAll('#{list} > li')].map(li => li.innerText)");

    [Fact]
    public async Task Person_SeesEnterpriseAccess_RevokeBlocksFreshIdJags_UntilAllowAgain()
    {
        var granted = await GrantAsync("page-erin");
        Assert.Equal(HttpStatusCode.OK, granted.StatusCode);
        using var tokens = JsonDocument.Parse(await granted.Content.ReadAsStringAsync());
        var accessToken = tokens.RootElement.GetProperty("access_token").GetString()!;

        await using var browser = await chromium.OpenAsync();
        await browser.Page.GoToAsync(PageUrl);
        await browser.ClickAndWaitAsync("a[href='/signin']");
        await browser.SignInAsync(fixture, "page-erin", approve: true, async () => await browser.UrlAsync() == PageUrl && await browser.HasAsync("#user"));
        var rows = await RowsAsync(browser, "connections");
        var row = Assert.Single(rows);
        Assert.Contains("Acme assistant " + EnterpriseFixture.BasicClientId, row);
        Assert.Contains("enterprise", row);
        Assert.Contains(fixture.IdpIssuer, row);
        Assert.Contains("neotoma:read neotoma:write", row);
        Assert.Contains("last used", row);
        await browser.ScreenshotAsync("connections-enterprise");

        await browser.ClickAndWaitAsync("#connections li button");

        Assert.Empty(await RowsAsync(browser, "connections"));
        Assert.Contains(await RowsAsync(browser, "blocked"), r => r.Contains("Acme assistant " + EnterpriseFixture.BasicClientId));
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(accessToken)).StatusCode);
        var refused = await GrantAsync("page-erin");
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("OAUTH_ENTERPRISE_ACCESS_REVOKED", await refused.Content.ReadAsStringAsync());
        Assert.Contains(await RowsAsync(browser, "activity"), r => r.Contains("is blocked: your organization's identity provider can no longer grant it access"));

        await browser.ClickAndWaitAsync("#blocked li button");

        Assert.False(await browser.HasAsync("#blocked"));
        Assert.Equal(HttpStatusCode.OK, (await GrantAsync("page-erin")).StatusCode);
        await browser.Page.ReloadAsync();
        Assert.Single(await RowsAsync(browser, "connections"));
        browser.AssertNoProblems();
    }
}
