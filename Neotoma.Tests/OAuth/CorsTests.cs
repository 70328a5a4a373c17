using System.Net;
using Neotoma.Core.Mcp;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// CORS for browser-based MCP clients (Fetch standard; MCP authorization spec, "Communication
/// Security"): the OAuth APIs are public to every origin without credentials, /mcp only to the
/// allowed origins, and navigations (authorize, callback) carry no CORS headers. What a browser
/// does with these headers is proven in SignInInChromiumTests; these are the headers themselves.
/// </summary>
public sealed class CorsTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private const string ForeignOrigin = "https://app.example";

    [Theory]
    [InlineData("/.well-known/oauth-protected-resource", "GET")]
    [InlineData("/.well-known/oauth-protected-resource/mcp", "GET")]
    [InlineData("/.well-known/oauth-authorization-server", "GET")]
    [InlineData("/api/mcp/oauth/register", "POST")]
    [InlineData("/api/mcp/oauth/token", "POST")]
    [InlineData("/api/mcp/oauth/revoke", "POST")]
    public async Task PublicOAuthApi_AnswersAPreflightFromAnyOrigin(string path, string method)
    {
        var response = await PreflightAsync(path, ForeignOrigin, method, "content-type, mcp-protocol-version");

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
        Assert.Contains(method, Header(response, "Access-Control-Allow-Methods"));
        Assert.Contains("Content-Type", Header(response, "Access-Control-Allow-Headers"));
        Assert.Contains("MCP-Protocol-Version", Header(response, "Access-Control-Allow-Headers"));
        Assert.Contains("Authorization", Header(response, "Access-Control-Allow-Headers"));
        Assert.True(int.Parse(Header(response, "Access-Control-Max-Age")!) >= 600);
        Assert.Null(Header(response, "Access-Control-Allow-Credentials"));
    }

    [Theory]
    [InlineData("/api/mcp/oauth/token", "grant_type=authorization_code&code=nope&client_id=nope")]
    [InlineData("/api/mcp/oauth/revoke", "token=nope")]
    public async Task TokenAndRevokeResponses_AreReadableByAnyOrigin_ErrorsIncluded(string path, string form)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(form, System.Text.Encoding.ASCII, "application/x-www-form-urlencoded"),
        };
        request.Headers.Add("Origin", ForeignOrigin);

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal("*", Header(response, "Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("http://localhost:6274")]
    [InlineData("http://127.0.0.1:1")]
    [InlineData("http://[::1]:8080")]
    [InlineData("https://localhost")]
    public async Task Mcp_OnALoopbackServer_AnswersEveryLoopbackOrigin(string origin)
    {
        var preflight = await PreflightAsync("/mcp", origin, "POST", "authorization, content-type, mcp-protocol-version, mcp-session-id");

        Assert.Equal(HttpStatusCode.NoContent, preflight.StatusCode);
        Assert.Equal(origin, Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Contains("Origin", Header(preflight, "Vary"));
        foreach (var header in new[] { "Authorization", "Content-Type", "MCP-Protocol-Version", "Mcp-Session-Id" })
        {
            Assert.Contains(header, Header(preflight, "Access-Control-Allow-Headers"));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(OAuthFixture.ToolsListRequest) };
        request.Headers.Add("Origin", origin);
        var challenge = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        Assert.Equal(origin, Header(challenge, "Access-Control-Allow-Origin"));
        foreach (var header in new[] { "WWW-Authenticate", "Mcp-Session-Id", "MCP-Protocol-Version" })
        {
            Assert.Contains(header, Header(challenge, "Access-Control-Expose-Headers"));
        }
    }

    [Theory]
    [InlineData("https://evil.example")]
    [InlineData("http://localhost.evil.example:8080")]
    [InlineData("null")]
    public async Task Mcp_RefusesOtherOrigins_PreflightAndRequest(string origin)
    {
        var preflight = await PreflightAsync("/mcp", origin, "POST", "authorization");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(OAuthFixture.ToolsListRequest) };
        request.Headers.Add("Origin", origin);
        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, preflight.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Null(Header(preflight, "Access-Control-Allow-Origin"));
        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Mcp_OnALoopbackServer_RefusesANonLoopbackHost_DnsRebinding()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StringContent(OAuthFixture.ToolsListRequest) };
        request.Headers.Host = "rebound.evil.example:" + fixture.BaseAddress.Port;
        request.Headers.Add("Origin", "http://rebound.evil.example:" + fixture.BaseAddress.Port);

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("Host", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/mcp/oauth/authorize?client_id=x")]
    [InlineData("/api/mcp/oauth/callback?state=x&code=y")]
    public async Task Navigations_CarryNoCorsHeaders(string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Origin", ForeignOrigin);

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Null(Header(response, "Access-Control-Allow-Origin"));
    }

    [Fact]
    public void DeployedServer_AllowsOnlyItsOwnAndListedOrigins_AndAnyHost()
    {
        var options = new McpOptions
        {
            AllowedOrigins = new HashSet<string>(["https://neotoma.example.com", "https://inspector.example.com"]),
            LoopbackServer = McpOptions.IsLoopbackOrigin("https://neotoma.example.com"),
        };

        Assert.False(options.LoopbackServer);
        Assert.True(options.IsAllowedOrigin("https://inspector.example.com"));
        Assert.True(options.IsAllowedOrigin(null));
        Assert.False(options.IsAllowedOrigin("http://localhost:6274"));
        Assert.False(options.IsAllowedOrigin("https://evil.example"));
        Assert.True(options.IsAllowedHost("neotoma.example.com"));
    }

    private Task<HttpResponseMessage> PreflightAsync(string path, string origin, string method, string headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, path);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return fixture.Server.Client.SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(", ", values)
            : null;
}
