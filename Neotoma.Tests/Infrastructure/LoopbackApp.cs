using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// A small web app on its own loopback port, for the other side of a test (a client's site, a
/// telemetry endpoint): the derived class maps its endpoints, this starts and stops it.
/// </summary>
public abstract class LoopbackApp : IAsyncDisposable
{
    private WebApplication? app;

    public Uri Origin { get; } = new($"http://127.0.0.1:{FreePorts.Next()}");

    protected abstract void Map(WebApplication app);

    protected async Task ListenAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(Origin.ToString().TrimEnd('/'));
        builder.Logging.ClearProviders();
        app = builder.Build();
        Map(app);
        await app.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
