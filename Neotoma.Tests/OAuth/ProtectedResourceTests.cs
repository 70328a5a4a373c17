using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>/mcp as an OAuth protected resource (RFC 6750 §3, RFC 9728 §5.1) served by the MCP SDK.</summary>
public sealed class ProtectedResourceTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private Task<HttpResponseMessage> PostAsync(string? token, string body, string? protocolVersion = null) =>
        fixture.SendMcpAsync(token, body, protocolVersion);

    private static string Initialize(string version) =>
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + version +
        "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"raw\",\"version\":\"1\"}}}";

    [Theory]
    [InlineData("expires_at = now() - interval '1 second'")]
    [InlineData("revoked_at = now()")]
    [InlineData("resource = 'https://other.example/mcp'")]
    public async Task ExpiredRevokedOrWrongAudienceToken_Is401InvalidToken(string damage)
    {
        var (tokens, _) = await fixture.SignInAsync("pr-" + Guid.NewGuid().ToString("N")[..8]);
        Assert.Equal(HttpStatusCode.OK, (await PostAsync(tokens.AccessToken, Initialize("2025-06-18"))).StatusCode);
        await fixture.Database.AdminExecuteAsync($"UPDATE mcp_oauth_tokens SET {damage} WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken)));

        var response = await PostAsync(tokens.AccessToken, Initialize("2025-06-18"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        var challenge = response.Headers.WwwAuthenticate.ToString();
        Assert.Contains("error=\"invalid_token\"", challenge);
        Assert.Contains($"resource_metadata=\"{fixture.Issuer}/.well-known/oauth-protected-resource/mcp\"", challenge);
    }

    [Theory]
    [InlineData("2025-03-26")]
    [InlineData("2025-06-18")]
    [InlineData("2025-11-25")]
    public async Task ClientsOfEachProtocolRevision_CanInitialize(string version)
    {
        var (tokens, _) = await fixture.SignInAsync("pv-" + version);

        var response = await PostAsync(tokens.AccessToken, Initialize(version));
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(body.Contains("\"protocolVersion\""), body);
        Assert.Contains("\"neotoma\"", body);
    }

    /// <summary>The MCP C# SDK client speaking each revision; 2026-07-28 skips the initialize handshake entirely.</summary>
    [Theory]
    [InlineData("2025-06-18")]
    [InlineData("2025-11-25")]
    [InlineData("2026-07-28")]
    public async Task SdkClientOfEachRevision_ListsToolsAndCallsOne(string version)
    {
        var (tokens, _) = await fixture.SignInAsync("sdk-" + version);
        var transport = new ModelContextProtocol.Client.HttpClientTransport(new ModelContextProtocol.Client.HttpClientTransportOptions
        {
            Endpoint = new Uri(fixture.Resource),
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + tokens.AccessToken },
        }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

        await using var client = await ModelContextProtocol.Client.McpClient.CreateAsync(transport,
            new ModelContextProtocol.Client.McpClientOptions { ProtocolVersion = version });
        var result = await client.CallToolAsync("get_authenticated_user");
        var firstList = await client.ListToolsAsync();
        var secondList = await client.ListToolsAsync();

        Assert.Equal(version, client.NegotiatedProtocolVersion);
        Assert.Equal(14, firstList.Count);
        Assert.Equal(firstList.Select(tool => tool.Name), secondList.Select(tool => tool.Name));
        var text = Assert.IsType<ModelContextProtocol.Protocol.TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.Contains("\"user_id\":\"sdk-" + version + "\"", text);
    }

    /// <summary>Gemini CLI probes with HEAD before anything else: it must learn where to sign in from that alone.</summary>
    [Theory]
    [InlineData("HEAD")]
    [InlineData("GET")]
    [InlineData("POST")]
    public async Task WithoutAToken_EveryMethodAClientProbesWith_Is401WithTheSameChallenge(string method)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), "/mcp");

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal($"Bearer resource_metadata=\"{fixture.Issuer}/.well-known/oauth-protected-resource/mcp\", scope=\"neotoma:read neotoma:write\"",
            response.Headers.WwwAuthenticate.ToString());
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("DELETE")]
    [InlineData("HEAD")]
    public async Task GetDeleteAndHead_WithAToken_Answer405AllowPost(string method)
    {
        var (tokens, _) = await fixture.SignInAsync("m405-" + method);
        using var request = new HttpRequestMessage(new HttpMethod(method), "/mcp");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        request.Headers.Accept.ParseAdd("text/event-stream");

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal("POST", string.Join(",", response.Content.Headers.Allow));
    }

    /// <summary>
    /// What Gemini CLI 0.61 does with an httpUrl and OAuth enabled: HEAD /mcp, then the root
    /// protected-resource document, whose resource it compares with the origin (normalised with a
    /// trailing slash), then a sign-in with that origin as resource. The token works on /mcp.
    /// </summary>
    [Fact]
    public async Task GeminiCliProbe_HeadThenRootDocument_ThenATokenAskedForTheOrigin_WorksOnMcp()
    {
        using var head = await fixture.Server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/mcp"));
        var root = await fixture.Server.Client.GetFromJsonAsync<System.Text.Json.JsonElement>("/.well-known/oauth-protected-resource");
        var origin = fixture.Issuer + "/";
        Assert.Equal(HttpStatusCode.Unauthorized, head.StatusCode);
        Assert.Contains("resource_metadata=", head.Headers.WwwAuthenticate.ToString());
        Assert.Equal(origin, new Uri(root.GetProperty("resource").GetString()!).GetLeftPart(UriPartial.Path));

        var client = await fixture.RegisterAsync();
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = await browser.SignInAsync(
            fixture.AuthorizeUrl(client, challenge, extra: new Dictionary<string, string?> { ["resource"] = origin }), client.RedirectUri, "gemini-probe");
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(
            client, Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(landing.Query)["code"].ToString(), verifier, origin)));

        using var call = await PostAsync(tokens.AccessToken, OAuthFixture.ToolsListRequest);
        Assert.Equal(HttpStatusCode.OK, call.StatusCode);
        Assert.Equal(fixture.Resource, await fixture.Database.AdminScalarAsync<string>(
            "SELECT resource FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken))));
    }
}
