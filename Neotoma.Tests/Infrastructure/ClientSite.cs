using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The MCP client's own side of a sign-in, on another loopback origin: the redirect URI a native
/// client listens on (<c>/native-callback</c>, a page saying the window can be closed) and a
/// browser-based MCP client (<c>/</c> and <c>/callback</c>, with <c>app.js</c> from BrowserClient/).
/// </summary>
public sealed class ClientSite : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<Uri> callbacks = new();

    private ClientSite(WebApplication app, Uri origin)
    {
        this.app = app;
        Origin = origin;
    }

    public Uri Origin { get; }

    public Uri NativeCallback => new(Origin, "/native-callback");

    /// <summary>Every request that reached <c>/native-callback</c>, with its query.</summary>
    public IReadOnlyCollection<Uri> Callbacks => callbacks;

    public static async Task<ClientSite> StartAsync()
    {
        var origin = new Uri($"http://127.0.0.1:{SelfHostServer.FreePort()}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(origin.ToString().TrimEnd('/'));
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var site = new ClientSite(app, origin);
        var files = Path.Combine(AppContext.BaseDirectory, "BrowserClient");

        app.MapGet("/native-callback", (HttpRequest request) =>
        {
            site.callbacks.Enqueue(new Uri(origin, request.Path + request.QueryString));
            return Results.Content("<!doctype html><title>Signed in</title><p>You can close this window.</p>", "text/html; charset=utf-8");
        });
        app.MapGet("/", () => Results.File(Path.Combine(files, "index.html"), "text/html; charset=utf-8"));
        app.MapGet("/callback", () => Results.File(Path.Combine(files, "index.html"), "text/html; charset=utf-8"));
        app.MapGet("/app.js", () => Results.File(Path.Combine(files, "app.js"), "text/javascript; charset=utf-8"));
        app.MapGet("/favicon.ico", () => Results.NoContent());
        await app.StartAsync();
        return site;
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
