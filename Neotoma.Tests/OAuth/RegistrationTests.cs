using System.Net;
using System.Text;
using System.Text.Json;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>RFC 7591 dynamic client registration; guide scenario 7 (OAUTH_INVALID_REDIRECT_URI).</summary>
public sealed class RegistrationTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    [Fact]
    public async Task Register_CursorsRealRequest_Succeeds()
    {
        var (status, body) = await RegisterAsync("""
            {"client_name":"Cursor","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback",
             "https://www.cursor.com/agents/mcp/oauth/callback","http://localhost:8787/callback"],
             "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
             "token_endpoint_auth_method":"none"}
            """);

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.StartsWith("mcp_", body.GetProperty("client_id").GetString());
        Assert.True(body.GetProperty("client_id_issued_at").GetInt64() > 1_700_000_000);
        Assert.Equal(3, body.GetProperty("redirect_uris").GetArrayLength());
        Assert.Equal("none", body.GetProperty("token_endpoint_auth_method").GetString());
        Assert.Equal("Cursor", body.GetProperty("client_name").GetString());
        Assert.Equal("code", body.GetProperty("response_types")[0].GetString());
        Assert.Equal(2, body.GetProperty("grant_types").GetArrayLength());
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_clients WHERE client_id = @id", ("id", body.GetProperty("client_id").GetString()!)));
    }

    [Fact]
    public async Task Register_VsCodesRealRequest_Succeeds()
    {
        var (status, _) = await RegisterAsync("""
            {"client_name":"Visual Studio Code","redirect_uris":["http://127.0.0.1:33418","https://vscode.dev/redirect"],
             "grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}
            """);

        Assert.Equal(HttpStatusCode.Created, status);
    }

    /// <summary>SEP-837 (MCP authorization, 2026-07-28): registering clients say what they are; native takes loopback, private-use schemes and https.</summary>
    [Fact]
    public async Task Register_Native_WithLoopbackPrivateUseAndHttps_IsStoredAndAnswered()
    {
        var (status, body) = await RegisterAsync("""
            {"client_name":"Native app","application_type":"native",
             "redirect_uris":["http://127.0.0.1:33418/","vscode://neotoma/callback","https://app.example/cb"]}
            """);

        Assert.Equal(HttpStatusCode.Created, status);
        Assert.Equal("native", body.GetProperty("application_type").GetString());
        Assert.Equal("native", await fixture.Database.AdminScalarAsync<string>(
            "SELECT application_type FROM mcp_oauth_clients WHERE client_id = @id", ("id", body.GetProperty("client_id").GetString()!)));
    }

    [Theory]
    [InlineData("http://127.0.0.1:8787/callback")]
    [InlineData("cursor://anysphere.cursor-mcp/oauth/callback")]
    public async Task Register_Web_WithALoopbackOrPrivateUseRedirect_IsRefusedNamingIt(string redirect)
    {
        var (status, body) = await RegisterAsync($$"""
            {"client_name":"Web app","application_type":"web","redirect_uris":["https://app.example/cb","{{redirect}}"]}
            """);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("OAUTH_INVALID_REDIRECT_URI", body.GetProperty("error_code").GetString());
        Assert.Contains(redirect, body.GetProperty("error_description").GetString());
        Assert.Contains("web application", body.GetProperty("error_description").GetString());
    }

    [Fact]
    public async Task Register_UnknownApplicationType_IsInvalidClientMetadata_AndOmittedKeepsTodaysRules()
    {
        var (unknown, body) = await RegisterAsync("""{"application_type":"desktop","redirect_uris":["http://127.0.0.1:8787/callback"]}""");
        var (omitted, registered) = await RegisterAsync("""{"redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback","https://a.example/cb","http://127.0.0.1:1/cb"]}""");

        Assert.Equal(HttpStatusCode.BadRequest, unknown);
        Assert.Equal("OAUTH_INVALID_CLIENT_METADATA", body.GetProperty("error_code").GetString());
        Assert.Equal(HttpStatusCode.Created, omitted);
        Assert.False(registered.TryGetProperty("application_type", out _));
    }

    [Theory]
    [InlineData("http://evil.example.com/callback", "loopback")]
    [InlineData("ftp://localhost/callback", "protocol 'ftp'")]
    [InlineData("javascript:alert(1)", "protocol 'javascript'")]
    [InlineData("/relative/callback", "absolute")]
    [InlineData("https://app.example.com/cb#fragment", "fragment")]
    [InlineData("https://user:pw@app.example.com/cb", "credentials")]
    public async Task Register_DisallowedRedirectUri_Is400NamingTheUriAndWhy(string uri, string why)
    {
        var (status, body) = await RegisterAsync(JsonSerializer.Serialize(new { redirect_uris = new[] { uri } }));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_redirect_uri", body.GetProperty("error").GetString());
        Assert.Equal("OAUTH_INVALID_REDIRECT_URI", body.GetProperty("error_code").GetString());
        Assert.Contains(uri, body.GetProperty("error_description").GetString());
        Assert.Contains(why, body.GetProperty("error_description").GetString());
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("{\"redirect_uris\":[]}")]
    [InlineData("{\"redirect_uris\":\"https://a.example/cb\"}")]
    [InlineData("{\"redirect_uris\":[42]}")]
    [InlineData("{\"redirect_uris\":[\"https://a.example/cb\"],\"grant_types\":[\"password\"]}")]
    [InlineData("{\"redirect_uris\":[\"https://a.example/cb\"],\"client_name\":7}")]
    public async Task Register_MalformedMetadata_Is400InvalidClientMetadata(string json)
    {
        var (status, body) = await RegisterAsync(json);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_client_metadata", body.GetProperty("error").GetString());
        Assert.Equal("OAUTH_INVALID_CLIENT_METADATA", body.GetProperty("error_code").GetString());
    }

    [Fact]
    public async Task Register_OneMegabyteBody_Is400AndStoresNothing()
    {
        var before = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients");
        var name = new string('a', 1024 * 1024);

        var (status, body) = await RegisterAsync($"{{\"client_name\":\"{name}\",\"redirect_uris\":[\"https://a.example/cb\"]}}");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_client_metadata", body.GetProperty("error").GetString());
        Assert.Equal(before, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients"));
    }

    /// <summary>
    /// A name shown on the consent page must read as what it is: a right-to-left override (U+202E)
    /// can make "Evil Corp\u202Eedoc SV" read as "Evil Corp VS code"; zero-width and other invisible
    /// characters hide differences. Such names are refused, nothing is stored.
    /// </summary>
    [Theory]
    [InlineData("Evil\u202E edoC SV")]
    [InlineData("Claude\u200B Code")]
    [InlineData("Cursor\u2066x\u2069")]
    [InlineData("Line\u2028break")]
    public async Task Register_NameWithInvisibleFormatting_Is400AndStoresNothing(string name)
    {
        var before = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients");

        var (status, body) = await RegisterAsync(JsonSerializer.Serialize(new { client_name = name, redirect_uris = new[] { "https://a.example/cb" } }));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("OAUTH_INVALID_CLIENT_METADATA", body.GetProperty("error_code").GetString());
        Assert.Contains("invisible formatting", body.GetProperty("error_description").GetString());
        Assert.Equal(before, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients"));
    }

    [Fact]
    public async Task Register_WrongContentType_Is400()
    {
        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/register",
            new StringContent("{\"redirect_uris\":[\"https://a.example/cb\"]}", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_INVALID_CLIENT_METADATA", await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode, JsonElement)> RegisterAsync(string json)
    {
        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/register", new StringContent(json, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }
}
