using PuppeteerSharp;

namespace Neotoma.Tests.Infrastructure;

public static class PersonInBrowser
{
    /// <summary>
    /// The person's side of the journey: Approve or Deny on Neotoma's consent page, the provider's
    /// sign-in form and its consent, until <paramref name="arrived"/> holds.
    /// </summary>
    public static async Task SignInAsync(this BrowserPage browser, OAuthFixture fixture, string login, bool approve, Func<Task<bool>> arrived)
    {
        var provider = fixture.Provider.Issuer.ToString().TrimEnd('/');
        await browser.WaitUntilAsync(async () =>
        {
            if (await arrived())
            {
                return true;
            }

            try
            {
                var url = browser.Page.Url;
                if (url.StartsWith(fixture.Issuer, StringComparison.Ordinal) && await browser.HasAsync("button[value=approve]"))
                {
                    await browser.ClickAndWaitAsync(approve ? "button[value=approve]" : "button[value=deny]");
                }
                else if (url.StartsWith(provider, StringComparison.Ordinal) && await browser.HasAsync("input[name=login]"))
                {
                    await browser.Page.TypeAsync("input[name=login]", login);
                    await browser.Page.TypeAsync("input[name=password]", "any-password");
                    await browser.ClickAndWaitAsync("button[type=submit]");
                }
                else if (url.StartsWith(provider, StringComparison.Ordinal) && await browser.HasAsync("button[type=submit]"))
                {
                    await browser.ClickAndWaitAsync("button[type=submit]");
                }
            }
            catch (PuppeteerException)
            {
                // The page moved on while we looked at it (a redirect, the consent page's continuation).
            }

            return await arrived();
        }, "the end of the sign-in", TimeSpan.FromSeconds(30));
    }
}
