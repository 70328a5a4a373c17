using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Functions.SelfHost;

namespace Neotoma.Tests.Infrastructure;

/// <summary>The real app, self-hosted on Kestrel on a free loopback port, reached over real HTTP.</summary>
public sealed class SelfHostServer : IAsyncDisposable
{
    private readonly WebApplication app;

    private SelfHostServer(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => app.Services;

    public static async Task<SelfHostServer> StartAsync(
        IDictionary<string, string?> settings,
        Action<IServiceCollection>? services = null)
    {
        var app = SelfHostApplication.Build(
            ["--urls", "http://127.0.0.1:0"],
            builder =>
            {
                builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
                {
                    ["Logging:LogLevel:Default"] = "Warning",
                    ["Logging:LogLevel:Neotoma"] = "Information",
                });
                builder.Configuration.AddInMemoryCollection(settings);
            },
            services);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return new SelfHostServer(app, new Uri(address));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
