using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;
using Neotoma.TestSupport;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// Guide scenario 1 (OAUTH_CLIENT_REGISTRATION_FAILED) and "Slow OAuth initiation": without a
/// configured client id Neotoma registers itself at the provider once per deployment, not per
/// instance or request.
/// </summary>
public sealed class UpstreamRegistrationTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static Task<HttpResponseMessage> InitiateAsync(SelfHostServer server) =>
        server.Client.PostAsync("/api/mcp/oauth/initiate", new StringContent("{\"client_name\":\"t\"}", Encoding.UTF8, "application/json"));

    [Fact]
    public async Task WithoutClientId_TwoInstancesRegisterOnce_AndSignInWorks()
    {
        var port = FreePorts.Next();
        var issuer = $"http://127.0.0.1:{port}";
        await using var provider = await DevIdentityProvider.StartAsync(issuer + "/api/mcp/oauth/callback", enableRegistration: true);
        var logs = new LogCollector();
        var settings = new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.ApiBase] = issuer,
            [SettingNames.UpstreamIssuer] = provider.Issuer.ToString(),
            [SettingNames.UpstreamClientId] = "",
        };
        await using var first = await SelfHostServer.StartAsync(settings, s => s.AddSingleton<ILoggerProvider>(logs), port);
        await using var second = await SelfHostServer.StartAsync(settings, s => s.AddSingleton<ILoggerProvider>(logs));

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => InitiateAsync(i % 2 == 0 ? first : second)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Equal(1L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_upstream_clients"));
        Assert.Single(logs.Lines, line => line.Contains("Dynamically registered OAuth client"));
        var registeredId = await database.AdminScalarAsync<string>("SELECT client_id FROM mcp_oauth_upstream_clients");
        using var body = JsonDocument.Parse(await responses[0].Content.ReadAsStringAsync());
        Assert.Contains("client_id=" + registeredId, body.RootElement.GetProperty("authUrl").GetString());

        // The registered client completes a real sign-in.
        using var browser = new BrowserAgent();
        var authUrl = new Uri(body.RootElement.GetProperty("authUrl").GetString()!);
        var landing = await browser.SignInAsync(authUrl, new Uri(issuer + "/api/mcp/oauth/callback"), "dcr-user");
        var page = await first.Client.GetAsync(landing);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Connection created", await page.Content.ReadAsStringAsync());
        Assert.Equal(1L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'dcr-user'"));
    }

    [Fact]
    public async Task WithoutClientId_AndNoRegistrationAtTheProvider_IsClientRegistrationFailed_WithTheGuidesHints()
    {
        var port = FreePorts.Next();
        await using var provider = await DevIdentityProvider.StartAsync($"http://127.0.0.1:{port}/api/mcp/oauth/callback", enableRegistration: false);
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.UpstreamIssuer] = provider.Issuer.ToString(),
            [SettingNames.UpstreamClientId] = "",
        }, port: port);

        var response = await InitiateAsync(server);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("OAUTH_CLIENT_REGISTRATION_FAILED", body.RootElement.GetProperty("error_code").GetString());
        var description = body.RootElement.GetProperty("error_description").GetString();
        Assert.Contains("Allow Dynamic OAuth Apps", description);
        Assert.Contains("SUPABASE_OAUTH_CLIENT_ID", description);
    }

    [Fact]
    public async Task ProviderUnreachable_IsAClear502_NotA500()
    {
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
        });

        var response = await InitiateAsync(server);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("OAUTH_UPSTREAM_ERROR", await response.Content.ReadAsStringAsync());
    }
}
