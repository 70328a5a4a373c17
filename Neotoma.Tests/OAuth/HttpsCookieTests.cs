using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// Behind an https API_BASE (as on Azure, where TLS ends at the front end) every cookie of the
/// person's side carries the <c>__Host-</c> prefix (so a sibling subdomain or a network attacker
/// cannot plant one: login CSRF through cookie injection), and pages send Strict-Transport-Security.
/// </summary>
public sealed class HttpsCookieTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task ConsentPage_OnHttps_SetsAHostPrefixedCookie_AndSendsHsts()
    {
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.ApiBase] = "https://neotoma.example",
        });
        var registered = await server.Client.PostAsJsonAsync("/api/mcp/oauth/register", new { client_name = "Https test", redirect_uris = new[] { "https://client.example/cb" } });
        var clientId = (await registered.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("client_id").GetString();

        var page = await server.Client.GetAsync($"/api/mcp/oauth/authorize?response_type=code&client_id={clientId}&redirect_uri={Uri.EscapeDataString("https://client.example/cb")}"
            + $"&code_challenge={OAuthFixture.NewPkce().Challenge}&code_challenge_method=S256&state=s");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        var cookie = page.Headers.GetValues("Set-Cookie").Single();
        Assert.StartsWith("__Host-neotoma_consent=", cookie);
        Assert.Contains("path=/;", cookie);
        Assert.Contains("secure", cookie);
        Assert.Contains("samesite=strict", cookie);
        Assert.Contains("httponly", cookie);
        Assert.DoesNotContain("domain=", cookie);
        Assert.Equal("max-age=31536000", page.Headers.GetValues("Strict-Transport-Security").Single());
    }
}
