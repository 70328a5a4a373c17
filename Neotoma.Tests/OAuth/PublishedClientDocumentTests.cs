using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Web;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The Client ID Metadata Documents real clients publish, served by a stand-in for their hosts
/// (<see cref="MetadataDocumentHost.PublishedHosts"/>) with the members and values the clients publish
/// (issue 24's table; the logo URL is a stand-in), each client's request sent as that client sends it:
/// its client_id, a loopback redirect on a port of its choosing where the document lists loopback, the
/// resource. Each signs in, lists tools and refreshes. VS Code's document also lists the device-code
/// grant, which Neotoma does not offer: it is ignored, not refused. ChatGPT's document, a confidential
/// client whose every token request is signed, runs the same flow in <see cref="PrivateKeyJwtTests"/>.
/// </summary>
public sealed class PublishedClientDocumentTests(DocumentsOAuthFixture fixture) : IClassFixture<DocumentsOAuthFixture>
{
    public static TheoryData<string, string, string> Clients => new()
    {
        {
            "VS Code", "http://127.0.0.1:33418/",
            """
            {"client_id":"https://vscode.dev/oauth/client-metadata.json","client_name":"Visual Studio Code","application_type":"native",
             "redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
             "grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
             "response_types":["code"],"token_endpoint_auth_method":"none",
             "client_uri":"https://vscode.dev/product","logo_uri":"https://vscode.dev/static/logo.png"}
            """
        },
        {
            "Codex", "http://127.0.0.1:47613/callback",
            """
            {"client_id":"https://chatgpt.com/oauth/codex/client.json","client_name":"Codex","application_type":"native",
             "redirect_uris":["http://127.0.0.1/callback","http://localhost/callback"],
             "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}
            """
        },
        {
            "Claude Code", "http://localhost:51234/callback",
            """
            {"client_id":"https://claude.ai/oauth/claude-code-client-metadata","client_name":"Claude Code",
             "redirect_uris":["http://localhost/callback","http://127.0.0.1/callback"],
             "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none",
             "client_uri":"https://claude.ai"}
            """
        },
        {
            "Zed", "http://127.0.0.1:40001/callback",
            """
            {"client_id":"https://zed.dev/oauth/client-metadata.json","client_name":"Zed",
             "redirect_uris":["http://127.0.0.1/callback"],
             "grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}
            """
        },
    };

    /// <summary>A document is never refused over application_type (SEP-837 informs; it does not break clients): web with a loopback redirect still signs in.</summary>
    [Fact]
    public async Task DocumentSayingWeb_WithALoopbackRedirect_IsNotRefused()
    {
        var clientId = fixture.Documents.Url("/says-web/client.json");
        fixture.Documents.MapPublished(clientId, $$"""
            {"client_id":"{{clientId}}","client_name":"Says web","application_type":"web","redirect_uris":["http://127.0.0.1/callback"]}
            """);
        var client = new OAuthFixture.RegisteredClient(clientId, new Uri("http://127.0.0.1:40123/callback"));
        using var browser = new BrowserAgent();

        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, "published-says-web")).Query);

        Assert.False(string.IsNullOrEmpty(landing["code"].ToString()));
        Assert.Equal("web", await fixture.Database.AdminScalarAsync<string>("SELECT application_type FROM mcp_oauth_clients WHERE client_id = @c", ("c", clientId)));
    }

    [Theory]
    [MemberData(nameof(Clients))]
    public async Task PublishedDocument_SignsIn_ListsTools_AndRefreshes(string name, string redirectUri, string document)
    {
        var clientId = System.Text.Json.JsonDocument.Parse(document).RootElement.GetProperty("client_id").GetString()!;
        fixture.Documents.MapPublished(clientId, document);
        var client = new OAuthFixture.RegisteredClient(clientId, new Uri(redirectUri));
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();

        var login = "published-" + name.Replace(' ', '-').ToLowerInvariant();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, login)).Query);

        Assert.Equal(fixture.Issuer, landing["iss"].ToString());
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(
            OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier, fixture.Resource)));
        // As a host uses it: the tools listed first (clients check answers only against listed tools' schemas), then one called.
        await using (var mcp = await fixture.ConnectWithTokenAsync(tokens.AccessToken))
        {
            Assert.Contains(await mcp.ListToolsAsync(), tool => tool.Name == "retrieve_entities");
            var who = await mcp.CallToolAsync("get_authenticated_user");
            Assert.NotEqual(true, who.IsError);
            Assert.Contains(login, System.Text.Json.JsonSerializer.Serialize(who.Content));
        }

        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken, ["client_id"] = clientId,
        }));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(refreshed.AccessToken)).StatusCode);
        // What it says it is is kept (documents are never refused over it); what it may do is what Neotoma offers.
        Assert.Equal(System.Text.Json.JsonDocument.Parse(document).RootElement.TryGetProperty("application_type", out var type) ? type.GetString() : null,
            await fixture.Database.AdminScalarAsync<string>("SELECT application_type FROM mcp_oauth_clients WHERE client_id = @c", ("c", clientId)));
        Assert.Equal(["authorization_code", "refresh_token"], (await fixture.Database.AdminScalarAsync<string[]>(
            "SELECT grant_types FROM mcp_oauth_clients WHERE client_id = @c", ("c", clientId)))!);

        // The person's connections page says who vouches for the client and what it said it is.
        var listed = Assert.Single(await fixture.Server.Services.GetRequiredService<ConnectionsService>().ListAsync(login, CancellationToken.None));
        Assert.Equal(new Uri(clientId).Host, listed.DocumentHost);
        Assert.Equal(type.ValueKind == System.Text.Json.JsonValueKind.String ? type.GetString() : null, listed.ApplicationType);
        Assert.False(listed.SignsRequests);
    }
}
