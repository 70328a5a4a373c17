using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The MCP client's own side of a sign-in, on another loopback origin: the redirect URI a native
/// client listens on (<c>/native-callback</c>, a page saying the window can be closed) and a
/// browser-based MCP client (<c>/</c> and <c>/callback</c>, with <c>app.js</c> from BrowserClient/), and
/// a page that sends the browser on to another URL (<c>/go?to=</c>), as any site can.
/// </summary>
public sealed class ClientSite : LoopbackApp
{
    private readonly ConcurrentQueue<Uri> callbacks = new();

    private ClientSite()
    {
    }

    public Uri NativeCallback => new(Origin, "/native-callback");

    /// <summary>Every request that reached <c>/native-callback</c>, with its query.</summary>
    public IReadOnlyCollection<Uri> Callbacks => callbacks;

    /// <summary>
    /// Whether <paramref name="count"/> callbacks reached the site and the browser shows the callback
    /// page: the request reaching the server is not the browser having committed to the page, and a
    /// test that navigates on in between would race the redirect still arriving.
    /// </summary>
    public async Task<bool> ShownAsync(BrowserPage browser, int count = 1) =>
        callbacks.Count >= count && (await browser.TextAsync()).Contains("You can close this window", StringComparison.Ordinal);

    public static async Task<ClientSite> StartAsync()
    {
        var site = new ClientSite();
        await site.ListenAsync();
        return site;
    }

    protected override void Map(WebApplication app)
    {
        var files = Path.Combine(AppContext.BaseDirectory, "BrowserClient");
        app.MapGet("/native-callback", (HttpRequest request) =>
        {
            callbacks.Enqueue(new Uri(Origin, request.Path + request.QueryString));
            return Results.Content("<!doctype html><title>Signed in</title><p>You can close this window.</p>", "text/html; charset=utf-8");
        });
        app.MapGet("/", () => Results.File(Path.Combine(files, "index.html"), "text/html; charset=utf-8"));
        app.MapGet("/callback", () => Results.File(Path.Combine(files, "index.html"), "text/html; charset=utf-8"));
        app.MapGet("/app.js", () => Results.File(Path.Combine(files, "app.js"), "text/javascript; charset=utf-8"));
        app.MapGet("/favicon.ico", () => Results.NoContent());
        // Any web page can send a visitor's browser elsewhere: this one goes to ?to= at once.
        app.MapGet("/go", (HttpRequest request) => Results.Content(
            $"<!doctype html><title>Elsewhere</title><meta http-equiv=\"refresh\" content=\"0; url='{System.Net.WebUtility.HtmlEncode(request.Query["to"])}'\">",
            "text/html; charset=utf-8"));
    }
}
