using PuppeteerSharp;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// Headless Chromium from the Debian package, started once for every browser test. Nothing
/// downloads a browser: `./neotoma test` and `.ci/run` install the package when it is missing.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    public const string ExecutablePath = "/usr/bin/chromium";

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            throw new InvalidOperationException($"{ExecutablePath} is missing: install the Debian package `chromium` (./neotoma test does).");
        }

        Browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            // Root (CI) cannot use Chromium's sandbox.
            Args = ["--no-sandbox", "--disable-gpu", "--no-first-run"],
        });
    }

    /// <summary>A fresh profile (no cookies, no storage) with one page of the given width.</summary>
    public async Task<BrowserPage> OpenAsync(int width = 1280)
    {
        var context = await Browser.CreateBrowserContextAsync();
        var page = await context.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = width, Height = 900 });
        return new BrowserPage(context, page);
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
            Browser.Dispose();
        }
    }
}

/// <summary>
/// The browser tests share one collection and run one at a time: two cores hold one Chromium,
/// the app, PostgreSQL and the provider steady, not several.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BrowserCollection : ICollectionFixture<ChromiumFixture>
{
    public const string Name = "Browser";
}

/// <summary>
/// One page, with every console error, uncaught script error and CSP violation it meets recorded,
/// so a test can fail on any of them; reads that meet the page between two documents are told apart
/// from the test's own mistakes.
/// </summary>
public sealed class BrowserPage : IAsyncDisposable
{
    private readonly IBrowserContext context;
    private readonly IPage page;
    private readonly List<string> problems;

    public BrowserPage(IBrowserContext context, IPage page)
    {
        this.context = context;
        this.page = page;
        problems = Watch(page);
    }

    public IPage Page => page;

    /// <summary>Console errors and warnings (CSP violations are reported as console errors), uncaught exceptions.</summary>
    public IReadOnlyList<string> Problems => problems;

    private static List<string> Watch(IPage page)
    {
        var problems = new List<string>();
        page.Console += (_, e) =>
        {
            if (e.Message.Type == ConsoleType.Error || e.Message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                lock (problems)
                {
                    problems.Add($"console {e.Message.Type} at {e.Message.Location?.URL}: {e.Message.Text}");
                }
            }
        };
        page.PageError += (_, e) =>
        {
            lock (problems)
            {
                problems.Add($"uncaught: {e.Message}");
            }
        };
        return problems;
    }

    /// <summary>
    /// Reads the page, or gives <paramref name="whileChanging"/> when the page moved to another
    /// document while it was read: the read then describes nothing that still exists. PuppeteerSharp
    /// reports that as a PuppeteerException (the execution context was destroyed) or, while Chromium
    /// swaps the main frame for a new document, as a NullReferenceException from inside PuppeteerSharp
    /// (its Page.MainFrame is briefly null: hardkoded/puppeteer-sharp#2951 and #3100). Any other
    /// exception is the test's own and is thrown.
    /// </summary>
    public async Task<T> ReadAsync<T>(Func<IPage, Task<T>> read, T whileChanging)
    {
        try
        {
            return await read(page);
        }
        catch (Exception e) when (IsPageChange(e))
        {
            return whileChanging;
        }
    }

    /// <summary>Whether PuppeteerSharp threw because the page left the document it worked on (see <see cref="ReadAsync"/>).</summary>
    public static bool IsPageChange(Exception e) =>
        e is PuppeteerException || (e is NullReferenceException && e.TargetSite?.DeclaringType?.Assembly == typeof(IPage).Assembly);

    /// <summary>The page's address, or "" while the main frame is being swapped.</summary>
    public Task<string> UrlAsync() => ReadAsync(p => Task.FromResult(p.Url), "");

    /// <summary>Fails on any recorded problem, except the ones <paramref name="expected"/> accepts.</summary>
    public void AssertNoProblems(Func<string, bool>? expected = null)
    {
        string[] unexpected;
        lock (problems)
        {
            unexpected = problems.Where(p => expected is null || !expected(p)).ToArray();
        }

        Assert.True(unexpected.Length == 0, "The browser reported:\n" + string.Join("\n", unexpected));
    }

    /// <summary>
    /// Clicks and waits for the navigation the click starts to finish, or to be aborted (a
    /// redirect to an app's own scheme, such as cursor:, which headless Chromium cannot open).
    /// </summary>
    public async Task ClickAndWaitAsync(string selector)
    {
        var navigation = page.WaitForNavigationAsync(new NavigationOptions { Timeout = 15_000 });
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnFailed(object? sender, RequestEventArgs e)
        {
            if (e.Request.IsNavigationRequest)
            {
                aborted.TrySetResult();
            }
        }

        page.RequestFailed += OnFailed;
        try
        {
            await ClickAsync(selector);
            if (await Task.WhenAny(navigation, aborted.Task) == navigation)
            {
                await navigation;
            }
            else
            {
                _ = navigation.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            }
        }
        finally
        {
            page.RequestFailed -= OnFailed;
        }
    }

    // Elements are found by evaluating in the page, never through PuppeteerSharp's element handles:
    // after Chromium swapped the main frame for a new document, its cached document handle could stay
    // stale (every QuerySelectorAsync failed for 20 s on a page that evaluation read fine). Clicks and
    // keys still go through Chromium's input pipeline (CDP Input), as a person's do.

    /// <summary>True when the page shows an element matching the selector; false while the page is changing.</summary>
    public Task<bool> HasAsync(string selector) =>
        ReadAsync(p => p.EvaluateFunctionAsync<bool>("selector => document.querySelector(selector) !== null", selector), false);

    /// <summary>A person's click on the element: the mouse pressed and released at its centre.</summary>
    public async Task ClickAsync(string selector)
    {
        var centre = await page.EvaluateFunctionAsync<decimal[]?>("""
            selector => {
              const element = document.querySelector(selector);
              if (!element) return null;
              element.scrollIntoView({ block: 'center', inline: 'center' });
              const box = element.getBoundingClientRect();
              return [box.x + box.width / 2, box.y + box.height / 2];
            }
            """, selector) ?? throw new InvalidOperationException($"No element {selector} on {await UrlAsync()}.");
        await page.Mouse.ClickAsync(centre[0], centre[1]);
    }

    /// <summary>A person typing into the element: it gets the focus, then each key is pressed.</summary>
    public async Task TypeAsync(string selector, string text)
    {
        if (!await page.EvaluateFunctionAsync<bool>("selector => { const e = document.querySelector(selector); e?.focus(); return e !== null && document.activeElement === e; }", selector))
        {
            throw new InvalidOperationException($"No element {selector} to type into on {await UrlAsync()}.");
        }

        await page.Keyboard.TypeAsync(text);
    }

    /// <summary>Waits until <paramref name="done"/> holds, failing with where the page stands and what it shows.</summary>
    public async Task WaitUntilAsync(Func<Task<bool>> done, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!await done())
        {
            if (DateTime.UtcNow > deadline)
            {
                var text = await TextAsync();
                throw new TimeoutException($"Waited for {what}; the page is at {await UrlAsync()} and shows: {text}\nProblems: {string.Join(" | ", Problems)}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Whether the page fits its viewport without horizontal scrolling (readable at 375 px).</summary>
    public Task<bool> FitsWidthAsync() =>
        page.EvaluateExpressionAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth");

    /// <summary>The text the page shows; "" while it is between documents.</summary>
    public Task<string> TextAsync() => ReadAsync(p => p.EvaluateExpressionAsync<string>("document.body?.innerText ?? ''"), "");

    /// <summary>Keeps a screenshot under TestResults/screenshots for people to look at.</summary>
    public async Task ScreenshotAsync(string name)
    {
        var folder = Path.Combine(DevIdentityProvider.RepositoryRoot(), "TestResults", "screenshots");
        Directory.CreateDirectory(folder);
        await page.ScreenshotAsync(Path.Combine(folder, name + ".png"), new ScreenshotOptions { FullPage = true });
    }

    /// <summary>
    /// Closing the context closes its page. Closing the page first waited for Chromium's
    /// targetDestroyed event, which never came after a meta-refresh to the client's callback page:
    /// PuppeteerSharp's protocol timeout (3 minutes) passed on every such test.
    /// </summary>
    public async ValueTask DisposeAsync() => await context.CloseAsync();
}
