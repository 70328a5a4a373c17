using Neotoma.Tests.Infrastructure;
using PuppeteerSharp;
using PuppeteerSharp.Media;

namespace Neotoma.Tests.Browser;

/// <summary>
/// What a person notices of the pages' design, in headless Chromium: names shown as the client wrote
/// them (as text, never as markup), light and dark by the system's <c>prefers-color-scheme</c>, primary
/// and destructive buttons told apart, right at 375 and 1280 px, with no console error or CSP violation.
/// The connections and consent pages are photographed in each: under TestResults/screenshots always, and
/// into docs/screenshots (the README's) when NEOTOMA_UPDATE_SCREENSHOTS=1.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class PageDesignInChromiumTests(ChromiumFixture chromium, OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private string PageUrl => fixture.Issuer + "/connections";

    private async Task SignInOnThePageAsync(BrowserPage browser, string login)
    {
        await browser.Page.GoToAsync(PageUrl);
        await browser.ClickAndWaitAsync("a[href='/signin']");
        await browser.SignInAsync(fixture, login, approve: true,
            async () => await browser.UrlAsync() == PageUrl && await browser.HasAsync("#user"));
    }

    [Fact]
    public async Task ClientNameWithMarkup_IsShownAsText_OnTheConsentAndConnectionsPages_AndRunsNothing()
    {
        const string name = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        await fixture.SignInAsync("design-mallory", clientName: name);
        var client = await fixture.RegisterAsync(name: name);
        await using var browser = await chromium.OpenAsync(width: 375);
        var dialogs = 0;
        browser.Page.Dialog += (_, e) => { dialogs++; _ = e.Dialog.Dismiss(); };

        await browser.Page.GoToAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge).ToString());
        Assert.Contains(name, await browser.TextAsync());
        Assert.Equal(0, await browser.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('img, script').length"));

        await SignInOnThePageAsync(browser, "design-mallory");
        var rows = await browser.Page.EvaluateExpressionAsync<string[]>("[...document.querySelectorAll('#connections > li, #activity > li')].map(li => li.innerText)");
        Assert.Contains(rows, r => r.Contains(name));
        Assert.Contains(rows, r => r.StartsWith(name + " connected", StringComparison.Ordinal));
        Assert.Equal(0, await browser.Page.EvaluateExpressionAsync<int>("document.querySelectorAll('img').length"));
        Assert.Equal(["/connections.js"], await browser.Page.EvaluateExpressionAsync<string[]>(
            "[...document.querySelectorAll('script')].map(s => new URL(s.src).pathname)"));
        Assert.Equal(0, dialogs);
        browser.AssertNoProblems();
    }

    [Fact]
    public async Task ConnectionsAndConsentPages_InLightAndDark_At375And1280()
    {
        await fixture.SignInAsync("design-kim", clientName: "Claude Code", applicationType: "native");
        await fixture.SignInAsync("design-kim", clientName: "Cursor", readOnly: true);
        var codex = await fixture.RegisterAsync(name: "Codex");
        await using var browser = await chromium.OpenAsync();
        await SignInOnThePageAsync(browser, "design-kim");
        // How each client identified itself, and what it said it is (SEP-837), as the person reads it.
        var identified = await browser.Page.EvaluateExpressionAsync<string[]>(
            "[...document.querySelectorAll('#connections > li')].map(li => li.querySelector('[data-identified]')?.innerText ?? '')");
        Assert.Contains("OAuth client that registered itself · an app on a device (native)", identified);
        Assert.Contains("OAuth client that registered itself", identified);
        await browser.TypeAsync("input[name=name]", "Nightly backup");
        await browser.ClickAndWaitAsync("form[action='/connections/tokens'] button");
        var consentUrl = fixture.AuthorizeUrl(codex, OAuthFixture.NewPkce().Challenge).ToString();

        var backgrounds = new Dictionary<string, string>();
        foreach (var scheme in new[] { "light", "dark" })
        {
            await browser.Page.EmulateMediaFeaturesAsync([new MediaFeatureValue { MediaFeature = MediaFeature.PrefersColorScheme, Value = scheme }]);
            foreach (var width in new[] { 1280, 375 })
            {
                await browser.Page.SetViewportAsync(new ViewPortOptions { Width = width, Height = width == 375 ? 812 : 900 });

                await browser.Page.GoToAsync(PageUrl);
                Assert.True(await browser.FitsWidthAsync(), $"the connections page scrolls sideways at {width} px ({scheme})");
                Assert.True(await browser.HasAsync("pre[data-copy] + button"), "connections.js added no copy button");
                await AssertButtonsAreToldApartAsync(browser, primary: "form[action='/connections/tokens'] button",
                    destructive: "form[action='/connections/revoke-all'] button", plain: "#consents form button");
                backgrounds[scheme] = await browser.Page.EvaluateExpressionAsync<string>("getComputedStyle(document.body).backgroundColor");
                await PhotographAsync(browser, $"connections-{scheme}-{width}");

                await browser.Page.GoToAsync(consentUrl);
                Assert.True(await browser.FitsWidthAsync(), $"the consent page scrolls sideways at {width} px ({scheme})");
                await AssertButtonsAreToldApartAsync(browser, primary: "button[value=approve]", destructive: null, plain: "button[value=deny]");
                await PhotographAsync(browser, $"consent-{scheme}-{width}");
            }
        }

        Assert.NotEqual(backgrounds["light"], backgrounds["dark"]);
        browser.AssertNoProblems();
    }

    /// <summary>The primary action is filled, a destructive one is filled in another colour, the rest are neither.</summary>
    private static async Task AssertButtonsAreToldApartAsync(BrowserPage browser, string primary, string? destructive, string plain)
    {
        Task<string> Background(string selector) =>
            browser.Page.EvaluateFunctionAsync<string>("selector => getComputedStyle(document.querySelector(selector)).backgroundColor", selector);

        var colours = new List<string> { await Background(primary), await Background(plain) };
        if (destructive is not null)
        {
            colours.Add(await Background(destructive));
        }

        Assert.Equal(colours.Count, colours.Distinct().Count());
    }

    private static async Task PhotographAsync(BrowserPage browser, string name)
    {
        await browser.ScreenshotAsync(name);
        if (Environment.GetEnvironmentVariable("NEOTOMA_UPDATE_SCREENSHOTS") == "1")
        {
            var folder = Path.Combine(DevIdentityProvider.RepositoryRoot(), "docs", "screenshots");
            Directory.CreateDirectory(folder);
            // The first screen, as a person sees it on opening the page (a full page would be several screens).
            await browser.Page.ScreenshotAsync(Path.Combine(folder, name + ".png"), new ScreenshotOptions { FullPage = false });
        }
    }
}
