namespace Neotoma.Tests.Infrastructure;

public static class PersonInBrowser
{
    /// <summary>
    /// The person's side of the journey: Approve or Deny on Neotoma's consent page, the provider's
    /// sign-in form and its consent, until <paramref name="arrived"/> holds. Each document is acted
    /// on once: the page itself is asked, in one evaluation, which step it offers and is marked as
    /// taken, so a document that was clicked through is never clicked again (a second submit of the
    /// provider's form would meet an interaction it already finished), while a new document, however
    /// the browser got to it, starts unmarked. A read that meets the browser between documents is
    /// made again on the next one.
    /// </summary>
    public static async Task SignInAsync(this BrowserPage browser, OAuthFixture fixture, string login, bool approve, Func<Task<bool>> arrived)
    {
        var steps = new List<string>();
        var claim = $$"""
            (() => {
              if (window.__personActed || document.readyState === 'loading') return '';
              const here = location.origin;
              const has = (selector) => document.querySelector(selector) !== null;
              const step = here === '{{fixture.Issuer}}' && has('button[value=approve]') ? 'consent'
                : here === '{{fixture.Provider.Issuer.ToString().TrimEnd('/')}}' && has('input[name=login]') ? 'login'
                : here === '{{fixture.Provider.Issuer.ToString().TrimEnd('/')}}' && has('button[type=submit]') ? 'provider consent'
                : '';
              if (step) window.__personActed = true;
              return step;
            })()
            """;
        try
        {
            await browser.WaitUntilAsync(async () =>
            {
                if (await arrived())
                {
                    return true;
                }

                var step = await browser.ReadAsync(page => page.EvaluateExpressionAsync<string>(claim), "");
                if (step.Length == 0)
                {
                    return false;
                }

                steps.Add($"{step} at {await browser.UrlAsync()}");
                try
                {
                    switch (step)
                    {
                        case "consent":
                            await browser.ClickAndWaitAsync(approve ? "button[value=approve]" : "button[value=deny]");
                            break;
                        case "login":
                            await browser.TypeAsync("input[name=login]", login);
                            await browser.TypeAsync("input[name=password]", "any-password");
                            await browser.ClickAndWaitAsync("button[type=submit]");
                            break;
                        default:
                            await browser.ClickAndWaitAsync("button[type=submit]");
                            break;
                    }
                }
                catch (Exception e) when (BrowserPage.IsPageChange(e))
                {
                    // The click's navigation replaced the document while PuppeteerSharp still watched the old one.
                    steps.Add($"  ({e.GetType().Name}: {e.Message})");
                }
                catch (TimeoutException e)
                {
                    // No navigation event within its wait. Chromium can swap the main frame without one (the reason
                    // the document carries the __personActed marker): look at the page again. A page that really did
                    // not move on is still caught, by this loop's own deadline, with every step named.
                    steps.Add($"  (no navigation seen after the click: {e.Message}; looking at the page again)");
                }

                return await arrived();
            }, "the end of the sign-in", TimeSpan.FromSeconds(30));
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException(e.Message + "\nSteps taken: " + string.Join(" | ", steps), e);
        }
    }
}
