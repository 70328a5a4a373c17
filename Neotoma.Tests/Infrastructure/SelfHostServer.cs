using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Functions.SelfHost;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>The app under test as a client reaches it: an address and an HTTP client that does not follow redirects.</summary>
public interface IAppServer : IAsyncDisposable
{
    Uri BaseAddress { get; }

    HttpClient Client { get; }
}

/// <summary>The real app, self-hosted on Kestrel on a loopback port, reached over real HTTP.</summary>
public sealed class SelfHostServer : IAppServer
{
    /// <summary>A test key (64 hex characters); real keys come from Key Vault or the environment.</summary>
    public const string TestEncryptionKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    private readonly WebApplication app;

    private SelfHostServer(WebApplication app, Uri baseAddress)
    {
        this.app = app;
        BaseAddress = baseAddress;
        Client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = baseAddress };
    }

    public Uri BaseAddress { get; }

    /// <summary>A client that does not follow redirects, so tests see them.</summary>
    public HttpClient Client { get; }

    public IServiceProvider Services => app.Services;

    /// <summary>The settings every test instance starts with, whichever host runs it; a test's own settings come after.</summary>
    public static Dictionary<string, string?> TestSettings(Uri baseAddress) => new()
    {
        ["Logging:LogLevel:Default"] = "Warning",
        ["Logging:LogLevel:Neotoma"] = "Information",
        [SettingNames.ApiBase] = baseAddress.ToString().TrimEnd('/'),
        [SettingNames.EncryptionKey] = TestEncryptionKey,
        // Nothing listens on port 9: tests that sign in start a real provider and set this.
        [SettingNames.UpstreamIssuer] = "http://127.0.0.1:9",
        [SettingNames.UpstreamClientId] = "unused",
        // Tests send many requests from one address; RateLimitTests turns the limits on.
        [SettingNames.RateLimitInitiate] = "0",
        [SettingNames.RateLimitCallback] = "0",
        [SettingNames.RateLimitToken] = "0",
        [SettingNames.RateLimitRegister] = "0",
        [SettingNames.RateLimitRevoke] = "0",
        [SettingNames.RateLimitJwtBearer] = "0",
        // Tests change token rows behind the app's back; AccessTokenCacheTests turns the cache on.
        [SettingNames.AccessTokenCacheSeconds] = "0",
    };

    /// <summary>
    /// Starts the app. <paramref name="port"/> is chosen first when the caller must know the
    /// base URL in advance (API_BASE, the upstream provider's redirect URI).
    /// </summary>
    public static async Task<SelfHostServer> StartAsync(
        IDictionary<string, string?> settings,
        Action<IServiceCollection>? services = null,
        int? port = null)
    {
        var chosenPort = port ?? FreePorts.Next();
        var baseAddress = new Uri($"http://127.0.0.1:{chosenPort}");
        var app = SelfHostApplication.Build(
            ["--urls", baseAddress.ToString().TrimEnd('/')],
            builder =>
            {
                builder.Configuration.AddInMemoryCollection(TestSettings(baseAddress));
                builder.Configuration.AddInMemoryCollection(settings);
            },
            services);
        await app.StartAsync();
        return new SelfHostServer(app, baseAddress);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
