namespace Neotoma.Tests.Infrastructure;

public static class PersonInBrowser
{
    /// <summary>
    /// The person's side of the journey: Approve or Deny on Neotoma's consent page, the provider's
    /// sign-in form and its consent, until <paramref name="arrived"/> holds. Each page is acted on
    /// once: a document that was clicked through is never clicked again (a second submit of the
    /// provider's form would meet an interaction it already finished), and what is read while the
    /// browser moves between documents is read again on the next one.
    /// </summary>
    public static async Task SignInAsync(this BrowserPage browser, OAuthFixture fixture, string login, bool approve, Func<Task<bool>> arrived)
    {
        var provider = fixture.Provider.Issuer.ToString().TrimEnd('/');
        var actedOn = -1;
        await browser.WaitUntilAsync(async () =>
        {
            if (await arrived())
            {
                return true;
            }

            var document = browser.Documents;
            if (document == actedOn)
            {
                return false;
            }

            var url = await browser.UrlAsync();
            var step =
                url.StartsWith(fixture.Issuer, StringComparison.Ordinal) && await browser.HasAsync("button[value=approve]") ? "consent"
                : url.StartsWith(provider, StringComparison.Ordinal) && await browser.HasAsync("input[name=login]") ? "login"
                : url.StartsWith(provider, StringComparison.Ordinal) && await browser.HasAsync("button[type=submit]") ? "provider consent"
                : null;
            // What was read must describe the document that is still shown.
            if (step is null || browser.Documents != document)
            {
                return false;
            }

            actedOn = document;
            try
            {
                switch (step)
                {
                    case "consent":
                        await browser.ClickAndWaitAsync(approve ? "button[value=approve]" : "button[value=deny]");
                        break;
                    case "login":
                        await browser.Page.TypeAsync("input[name=login]", login);
                        await browser.Page.TypeAsync("input[name=password]", "any-password");
                        await browser.ClickAndWaitAsync("button[type=submit]");
                        break;
                    default:
                        await browser.ClickAndWaitAsync("button[type=submit]");
                        break;
                }
            }
            catch (Exception e) when (BrowserPage.IsPageChange(e) && browser.Documents != document)
            {
                // The click's navigation replaced the document while PuppeteerSharp still watched the old one.
            }

            return await arrived();
        }, "the end of the sign-in", TimeSpan.FromSeconds(30));
    }
}
