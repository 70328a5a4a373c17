using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.Authentication;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Tests.Infrastructure;
using Neotoma.Tests.WorkerPath;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The MCP C# SDK client connects with nothing but the URL: discovery, dynamic registration,
/// consent, upstream sign-in at a real OpenID provider, callback, token, then a tool call.
/// Runs twice: on the self-host, and in the real worker driven over the Functions RPC protocol.
/// </summary>
public abstract class McpClientEndToEndSuite<TFixture>(TFixture fixture) where TFixture : OAuthFixture
{
    [Fact]
    public async Task SdkClient_WithOnlyTheUrl_SignsInAndCallsATool()
    {
        using var browser = new BrowserAgent();
        var transport = fixture.OAuthTransport("SDK End-to-End", (authorization, redirect) => browser.SignInAsync(authorization, redirect, "alice"));

        await using var client = await McpClient.CreateAsync(transport);
        var tools = await client.ListToolsAsync();
        var result = await client.CallToolAsync("get_authenticated_user");

        Assert.Contains(tools, t => t.Name == "get_authenticated_user");
        Assert.NotEqual(true, result.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        using var user = JsonDocument.Parse(text);
        Assert.Equal("alice", user.RootElement.GetProperty("user_id").GetString());
        // The user saw Neotoma's consent page and the provider's sign-in, in that order.
        var consent = browser.Visited.FindIndex(v => v.Contains("/api/mcp/oauth/initiate"));
        var signIn = browser.Visited.FindIndex(v => v.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/') + "/interaction"));
        Assert.InRange(consent, 0, signIn - 1);
    }

    [Fact]
    public async Task Tokens_RefreshAndKeepWorkingWithTheSdkClient()
    {
        var (tokens, client) = await fixture.SignInAsync("bob");
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = tokens.RefreshToken,
            ["client_id"] = client.ClientId,
        }));

        Assert.NotEqual(tokens.AccessToken, refreshed.AccessToken);
        Assert.NotEqual(tokens.RefreshToken, refreshed.RefreshToken);
        Assert.Equal(3600, refreshed.ExpiresIn);

        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(fixture.Resource),
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + refreshed.AccessToken },
        }, NullLoggerFactory.Instance);
        await using var mcp = await McpClient.CreateAsync(transport);
        var result = await mcp.CallToolAsync("get_authenticated_user");
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.Contains("\"user_id\":\"bob\"", text);
    }

    [Fact]
    public async Task Mcp_WithoutToken_Answers401WithResourceMetadata()
    {
        var response = await fixture.App.Client.PostAsync("/mcp", new StringContent("{}"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.Equal($"Bearer resource_metadata=\"{fixture.Issuer}/.well-known/oauth-protected-resource/mcp\", scope=\"neotoma:read neotoma:write\"", challenge);
    }

    [Fact]
    public async Task Mcp_WithUnknownToken_Answers401InvalidToken()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent("{}") };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-a-real-token");

        var response = await fixture.App.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
    }
}

public sealed class McpClientEndToEndTests(OAuthFixture fixture) : McpClientEndToEndSuite<OAuthFixture>(fixture), IClassFixture<OAuthFixture>;

public sealed class WorkerPathMcpClientEndToEndTests(WorkerPathFixture fixture)
    : McpClientEndToEndSuite<WorkerPathFixture>(fixture), IClassFixture<WorkerPathFixture>;
