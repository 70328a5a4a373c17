using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Tests.Infrastructure;
using Neotoma.Tests.WorkerPath;
using PuppeteerSharp;

namespace Neotoma.Tests.Browser;

/// <summary>
/// The person's path in a real browser (headless Chromium): Neotoma's consent page, the provider's
/// sign-in, the callback and the client's redirect, with every console error and CSP violation a
/// failure. An HttpClient enforces no Content-Security-Policy and no CORS, so only these tests can
/// prove that a person gets through. Runs twice: on the self-host, and in the real worker driven
/// over the Functions RPC protocol (Azure's path: cookies, redirects and headers through the worker).
/// </summary>
public abstract class SignInInChromiumSuite<TFixture>(ChromiumFixture chromium, TFixture fixture) : IAsyncLifetime
    where TFixture : OAuthFixture
{
    private ClientSite site = null!;

    public async Task InitializeAsync() => site = await ClientSite.StartAsync();

    public async Task DisposeAsync() => await site.DisposeAsync();

    [Fact]
    public async Task Person_Approves_SignsInUpstream_AndTheClientRedeemsTheCode()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString(), "Chromium Test Client");
        var (verifier, challenge) = OAuthFixture.NewPkce();
        await using var browser = await chromium.OpenAsync();

        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, challenge, state: "chromium-1").ToString());
        Assert.Contains("Chromium Test Client", await browser.TextAsync());
        await browser.ScreenshotAsync("consent-desktop");
        await SignInAsync(browser, "chromium-alice", approve: true, () => site.ShownAsync(browser));

        var landing = QueryHelpers.ParseQuery(Assert.Single(site.Callbacks).Query);
        Assert.Equal("chromium-1", landing["state"]);
        Assert.Equal(fixture.Issuer, landing["iss"]);
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(
            OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier, fixture.Resource)));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        Assert.Contains("You can close this window", await browser.TextAsync());
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task Person_Denies_TheClientGetsAccessDenied_AndNothingGoesUpstream()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString());
        await using var browser = await chromium.OpenAsync();
        var upstream = RecordRequests(browser, fixture.Provider.Issuer.ToString().TrimEnd('/'));

        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "chromium-deny").ToString());
        await SignInAsync(browser, "chromium-bob", approve: false, () => site.ShownAsync(browser));

        var landing = QueryHelpers.ParseQuery(Assert.Single(site.Callbacks).Query);
        Assert.Equal("access_denied", landing["error"]);
        Assert.Equal("chromium-deny", landing["state"]);
        Assert.Equal(fixture.Issuer, landing["iss"]);
        Assert.Empty(upstream);
        browser.AssertNoProblems();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task CursorRedirect_ReachesTheApp_ApprovedOrDenied(bool approve)
    {
        const string redirect = "cursor://anysphere.cursor-mcp/oauth/callback";
        var client = await fixture.RegisterAsync(redirect, "Cursor");
        await using var browser = await chromium.OpenAsync();

        // Headless Chromium has no app for cursor:, so it aborts the navigation quietly: the request
        // it started, with the URL it was sent to, is how the test sees the browser reach the app.
        var launches = RecordRequests(browser, "cursor://");
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge, state: "cursor-state").ToString());
        await SignInAsync(browser, "chromium-carol", approve, () => launches.Count > 0);

        var opened = new Uri(Assert.Single(launches));
        var landing = QueryHelpers.ParseQuery(opened.Query);
        Assert.StartsWith(redirect + "?", opened.ToString());
        Assert.Equal("cursor-state", landing["state"]);
        Assert.Equal(fixture.Issuer, landing["iss"]);
        Assert.True(approve ? landing.ContainsKey("code") : landing["error"] == "access_denied", opened.ToString());
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task UnknownClient_ShowsTheErrorPage_ReadableAt375Pixels()
    {
        await using var browser = await chromium.OpenAsync(width: 375);
        var client = new OAuthFixture.RegisteredClient("mcp_never_registered", site.NativeCallback);

        var response = await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge).ToString());

        await AssertErrorPageAsync(browser, response, HttpStatusCode.Unauthorized, "OAUTH_INVALID_CLIENT", "error-unknown-client");
    }

    [Fact]
    public async Task ConsentWithAForgedCsrfToken_ShowsTheErrorPage_AndStartsNothing()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString());
        await using var browser = await chromium.OpenAsync(width: 375);
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge).ToString());
        await browser.ScreenshotAsync("consent-375");
        Assert.True(await browser.FitsWidthAsync(), "the consent page scrolls sideways at 375 px");
        await browser.Page.EvaluateExpressionAsync("document.querySelector('input[name=csrf_token]').value = '9999999999.forged'");
        var states = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state");

        var navigation = browser.Page.WaitForNavigationAsync();
        await browser.ClickAsync("button[value=approve]");
        var response = await navigation;

        await AssertErrorPageAsync(browser, response, HttpStatusCode.BadRequest, "OAUTH_CONSENT_INVALID", "error-csrf");
        Assert.Equal(states, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state"));
    }

    [Fact]
    public async Task CallbackReplayedWithTheBackButton_ShowsStateInvalid()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString());
        await using var browser = await chromium.OpenAsync(width: 375);
        var callbacks = RecordRequests(browser, fixture.Issuer + "/api/mcp/oauth/callback");
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge).ToString());
        await SignInAsync(browser, "chromium-dave", approve: true, () => site.ShownAsync(browser));

        var response = await browser.Page.GoToAsync(Assert.Single(callbacks));

        await AssertErrorPageAsync(browser, response, HttpStatusCode.BadRequest, "OAUTH_STATE_INVALID", "error-state-replayed");
    }

    [Fact]
    public async Task PersonWhoTookTooLong_ShowsStateExpired()
    {
        var client = await fixture.RegisterAsync(site.NativeCallback.ToString());
        await using var browser = await chromium.OpenAsync(width: 375);
        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge).ToString());
        await browser.ClickAndWaitAsync("button[value=approve]");
        await browser.WaitUntilAsync(() => browser.HasAsync("input[name=login]"), "the provider's sign-in form");

        // Eleven minutes at the provider's sign-in page: the state Neotoma made has expired.
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_state SET created_at = now() - interval '11 minutes', expires_at = now() - interval '1 minute' WHERE client_id = @c",
            ("c", client.ClientId));
        IResponse? callback = null;
        browser.Page.Response += (_, e) =>
        {
            if (e.Response.Url.StartsWith(fixture.Issuer + "/api/mcp/oauth/callback", StringComparison.Ordinal))
            {
                callback = e.Response;
            }
        };
        await SignInAsync(browser, "chromium-erin", approve: true, () => callback is not null);
        await browser.WaitUntilAsync(async () => (await browser.TextAsync()).Contains("OAUTH_STATE_EXPIRED"), "the error page");

        await AssertErrorPageAsync(browser, callback, HttpStatusCode.BadRequest, "OAUTH_STATE_EXPIRED", "error-state-expired");
    }

    [Fact]
    public async Task BrowserBasedMcpClient_OnAnotherOrigin_DiscoversRegistersSignsInAndCallsATool()
    {
        await using var browser = await chromium.OpenAsync();
        var start = new Uri(site.Origin, "/?mcp=" + Uri.EscapeDataString(fixture.Resource));

        await browser.Page.GoToAsync(start.ToString());
        var callback = new Uri(site.Origin, "/callback").ToString();
        await SignInAsync(browser, "chromium-frank", approve: true, async () => (await browser.UrlAsync()).StartsWith(callback, StringComparison.Ordinal));
        // Back on the client's page, its script exchanges the code and calls the tool: Chromium
        // reports when its status says so (no further navigation happens on this page).
        await browser.Page.WaitForFunctionAsync("() => ['done', 'failed'].includes(document.getElementById('status')?.textContent)",
            new WaitForFunctionOptions { Timeout = 20_000 });

        var error = await browser.Page.EvaluateExpressionAsync<string>("document.getElementById('error').textContent");
        Assert.True(error.Length == 0, error);
        var user = await browser.Page.EvaluateExpressionAsync<string>("document.getElementById('result').textContent");
        Assert.Contains("\"user_id\":\"chromium-frank\"", user.Replace(" ", ""));
        // The answer the page received conforms to the output schema the page listed.
        using var schema = JsonDocument.Parse(await browser.Page.EvaluateExpressionAsync<string>("document.getElementById('schema').textContent"));
        using var answer = JsonDocument.Parse(await browser.Page.EvaluateExpressionAsync<string>("document.getElementById('answer').textContent"));
        ToolOutputValidator.AssertConforms("get_authenticated_user", schema.RootElement, answer.RootElement);
        // The client's first call is meant to get 401 (that is how it discovers where to sign in),
        // and Chromium reports every non-2xx fetch on the console; nothing else may appear.
        browser.AssertNoProblems(p => p == $"console Error at {fixture.Resource}: Failed to load resource: the server responded with a status of 401 (Unauthorized)");
    }

    private Task SignInAsync(BrowserPage browser, string login, bool approve, Func<bool> arrived) =>
        browser.SignInAsync(fixture, login, approve, () => Task.FromResult(arrived()));

    private Task SignInAsync(BrowserPage browser, string login, bool approve, Func<Task<bool>> arrived) =>
        browser.SignInAsync(fixture, login, approve, arrived);

    private static async Task AssertErrorPageAsync(BrowserPage browser, IResponse? response, HttpStatusCode status, string code, string screenshot)
    {
        Assert.NotNull(response);
        Assert.Equal(status, response.Status);
        var text = await browser.TextAsync();
        Assert.Contains("Neotoma could not connect", text);
        Assert.Contains(code, text);
        Assert.True(await browser.FitsWidthAsync(), $"the {code} page scrolls sideways at 375 px");
        await browser.ScreenshotAsync(screenshot);
        // A 4xx document is reported by Chromium itself as a failed resource load; nothing else may appear.
        browser.AssertNoProblems(p => p.Contains($"the server responded with a status of {(int)status}", StringComparison.Ordinal));
    }

    private static List<string> RecordRequests(BrowserPage browser, string prefix)
    {
        var seen = new List<string>();
        browser.Page.Request += (_, e) =>
        {
            if (e.Request.Url.StartsWith(prefix, StringComparison.Ordinal))
            {
                lock (seen)
                {
                    seen.Add(e.Request.Url);
                }
            }
        };
        return seen;
    }
}

[Collection(BrowserCollection.Name)]
public sealed class SignInInChromiumTests(ChromiumFixture chromium, OAuthFixture fixture)
    : SignInInChromiumSuite<OAuthFixture>(chromium, fixture), IClassFixture<OAuthFixture>;

[Collection(BrowserCollection.Name)]
public sealed class WorkerPathSignInInChromiumTests(ChromiumFixture chromium, WorkerPathFixture fixture)
    : SignInInChromiumSuite<WorkerPathFixture>(chromium, fixture), IClassFixture<WorkerPathFixture>;
