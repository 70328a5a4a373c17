using System.Net;
using System.Text;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>Every endpoint answers bad input with a specific 4xx, never a 5xx, and stores nothing.</summary>
public sealed class BadInputTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private static readonly string[] HostileValues =
    [
        "\u0000", "a\u001fb", "line\r\nInjected: header", "é漢字🙂", new string('x', 5000), "%00", "' OR 1=1 --", "<script>alert(1)</script>",
    ];

    private static readonly (string Method, string Path, string[] Parameters)[] Endpoints =
    [
        ("GET", "/api/mcp/oauth/authorize", ["client_id", "redirect_uri", "response_type", "code_challenge", "code_challenge_method", "state", "scope", "resource"]),
        ("GET", "/api/mcp/oauth/callback", ["code", "state", "error"]),
        ("POST", "/api/mcp/oauth/token", ["grant_type", "code", "client_id", "redirect_uri", "code_verifier", "refresh_token", "resource"]),
        ("POST", "/api/mcp/oauth/revoke", ["token", "token_type_hint", "client_id"]),
        ("POST", "/api/mcp/oauth/initiate", ["client_id", "redirect_uri", "code_challenge", "state", "csrf_token", "decision"]),
    ];

    public static TheoryData<string, string, string, int> HostileParameters()
    {
        var data = new TheoryData<string, string, string, int>();
        foreach (var (method, path, parameters) in Endpoints)
        {
            foreach (var parameter in parameters)
            {
                for (var i = 0; i < HostileValues.Length; i++)
                {
                    data.Add(method, path, parameter, i);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(HostileParameters))]
    public async Task HostileParameterValue_Is4xx(string method, string path, string parameter, int valueIndex)
    {
        var fields = new Dictionary<string, string>
        {
            ["client_id"] = "mcp_x", ["grant_type"] = "authorization_code", ["response_type"] = "code", ["state"] = "s",
            [parameter] = HostileValues[valueIndex],
        };

        var response = await SendAsync(method, path, fields.ToList());

        if (path == "/api/mcp/oauth/revoke" && parameter == "token" && response.StatusCode == HttpStatusCode.OK)
        {
            // RFC 7009 §2.2: an unknown token is answered 200, whatever it looks like; only malformed ones are 400.
            Assert.DoesNotContain(HostileValues[valueIndex], new[] { "\u0000", "a\u001fb", new string('x', 5000) });
            return;
        }

        AssertClientError(response, $"{method} {path} {parameter}=#{valueIndex}");
    }

    [Theory]
    [InlineData("GET", "/api/mcp/oauth/authorize", "client_id")]
    [InlineData("GET", "/api/mcp/oauth/callback", "state")]
    [InlineData("POST", "/api/mcp/oauth/token", "code")]
    [InlineData("POST", "/api/mcp/oauth/token", "grant_type")]
    [InlineData("POST", "/api/mcp/oauth/revoke", "token")]
    [InlineData("POST", "/api/mcp/oauth/initiate", "decision")]
    public async Task DuplicatedParameter_Is400(string method, string path, string parameter)
    {
        var response = await SendAsync(method, path, [new(parameter, "one"), new(parameter, "two")]);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("more than once", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/mcp/oauth/token", "application/json", "{\"grant_type\":\"authorization_code\"}")]
    [InlineData("/api/mcp/oauth/token", "text/plain", "grant_type=authorization_code")]
    [InlineData("/api/mcp/oauth/token", null, "")]
    [InlineData("/api/mcp/oauth/revoke", "application/json", "{\"token\":\"x\"}")]
    [InlineData("/api/mcp/oauth/register", "application/x-www-form-urlencoded", "redirect_uris=https://a.example/cb")]
    [InlineData("/api/mcp/oauth/initiate", "text/plain", "hello")]
    [InlineData("/api/mcp/oauth/initiate", "application/json", "{bad json")]
    [InlineData("/api/mcp/oauth/initiate", "application/json", "[1,2]")]
    [InlineData("/api/mcp/oauth/register", "application/json", "\"just a string\"")]
    public async Task WrongContentTypeOrMalformedBody_Is400(string path, string? contentType, string body)
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
        if (contentType is not null)
        {
            content.Headers.ContentType = new(contentType);
        }

        var response = await fixture.Server.Client.PostAsync(path, content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    /// <summary>A JSON-RPC message without a JSON content type is 415 with a JSON-RPC error, never the SDK's 500.</summary>
    [Theory]
    [InlineData(null)]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task McpPost_WithoutJsonContentType_Is415(string? contentType)
    {
        var (tokens, _) = await fixture.SignInAsync("bad-input-content-type");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(OAuthFixture.ToolsListRequest)) };
        if (contentType is not null)
        {
            request.Content.Headers.ContentType = new(contentType);
        }

        request.Headers.Authorization = new("Bearer", tokens.AccessToken);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("Content-Type: application/json", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/api/mcp/oauth/token", "application/x-www-form-urlencoded")]
    [InlineData("/api/mcp/oauth/revoke", "application/x-www-form-urlencoded")]
    [InlineData("/api/mcp/oauth/register", "application/json")]
    [InlineData("/api/mcp/oauth/initiate", "application/json")]
    [InlineData("/api/mcp/oauth/initiate", "application/x-www-form-urlencoded")]
    public async Task OneMegabyteBody_Is400AndChangesNothing(string path, string contentType)
    {
        var rowsBefore = await CountRowsAsync();
        var body = contentType == "application/json"
            ? "{\"client_name\":\"" + new string('a', 1024 * 1024) + "\",\"redirect_uris\":[\"https://a.example/cb\"]}"
            : "grant_type=authorization_code&code=" + new string('a', 1024 * 1024);

        var response = await fixture.Server.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(rowsBefore, await CountRowsAsync());
    }

    [Fact]
    public async Task InvalidUtf8Body_Is400()
    {
        var content = new ByteArrayContent([0x7b, 0xff, 0xfe, 0x7d]);
        content.Headers.ContentType = new("application/json");

        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/register", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    private Task<HttpResponseMessage> SendAsync(string method, string path, List<KeyValuePair<string, string>> fields)
    {
        if (method == "GET")
        {
            var query = string.Join("&", fields.Select(f => $"{Uri.EscapeDataString(f.Key)}={Uri.EscapeDataString(f.Value)}"));
            return fixture.Server.Client.GetAsync(path + "?" + query);
        }

        return fixture.Server.Client.PostAsync(path, new FormUrlEncodedContent(fields));
    }

    private static void AssertClientError(HttpResponseMessage response, string what) =>
        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{what} answered {(int)response.StatusCode}");

    private Task<string?> CountRowsAsync() => fixture.Database.AdminScalarAsync<string>("""
        SELECT (SELECT count(*) FROM mcp_oauth_clients) || '/' || (SELECT count(*) FROM mcp_oauth_state) || '/' ||
               (SELECT count(*) FROM mcp_oauth_tokens) || '/' || (SELECT count(*) FROM mcp_oauth_connections)
        """);
}
