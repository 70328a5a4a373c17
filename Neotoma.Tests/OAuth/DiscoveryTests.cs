using System.Net;
using System.Text.Json;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>RFC 8414 and RFC 9728 metadata; guide scenario 0a ("does not support dynamic client registration").</summary>
public sealed class DiscoveryTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    [Fact]
    public async Task AuthorizationServerMetadata_AdvertisesEveryEndpointAndCapability()
    {
        var metadata = await GetJsonAsync("/.well-known/oauth-authorization-server");

        Assert.Equal(fixture.Issuer, metadata.GetProperty("issuer").GetString());
        Assert.Equal(fixture.Issuer + "/api/mcp/oauth/register", metadata.GetProperty("registration_endpoint").GetString());
        Assert.Equal(fixture.Issuer + "/api/mcp/oauth/authorize", metadata.GetProperty("authorization_endpoint").GetString());
        Assert.Equal(fixture.Issuer + "/api/mcp/oauth/token", metadata.GetProperty("token_endpoint").GetString());
        Assert.Equal(fixture.Issuer + "/api/mcp/oauth/revoke", metadata.GetProperty("revocation_endpoint").GetString());
        Assert.Equal(["code"], Strings(metadata, "response_types_supported"));
        Assert.Equal(["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"], Strings(metadata, "grant_types_supported"));
        Assert.Equal(["urn:ietf:params:oauth:grant-profile:id-jag"], Strings(metadata, "authorization_grant_profiles_supported"));
        Assert.Equal(["S256"], Strings(metadata, "code_challenge_methods_supported"));
        Assert.Equal(["none", "private_key_jwt", "client_secret_basic", "client_secret_post"], Strings(metadata, "token_endpoint_auth_methods_supported"));
        Assert.Equal(["none", "private_key_jwt"], Strings(metadata, "revocation_endpoint_auth_methods_supported"));
        Assert.Equal(["RS256", "ES256", "PS256"], Strings(metadata, "token_endpoint_auth_signing_alg_values_supported"));
        Assert.Equal(["neotoma:read", "neotoma:write", "mcp", "offline_access"], Strings(metadata, "scopes_supported"));
        Assert.True(metadata.GetProperty("authorization_response_iss_parameter_supported").GetBoolean());
    }

    /// <summary>RFC 9728 §3.3: each document names the resource its well-known URL was built from.</summary>
    [Theory]
    [InlineData("/.well-known/oauth-protected-resource", "")]
    [InlineData("/.well-known/oauth-protected-resource/mcp", "/mcp")]
    public async Task ProtectedResourceMetadata_NamesItsResourceAndTheIssuerByteForByte(string path, string resourcePath)
    {
        var resource = await GetJsonAsync(path);
        var server = await GetJsonAsync("/.well-known/oauth-authorization-server");

        Assert.Equal(fixture.Issuer + resourcePath, resource.GetProperty("resource").GetString());
        Assert.Equal([server.GetProperty("issuer").GetString()!], Strings(resource, "authorization_servers"));
        Assert.Equal(["header"], Strings(resource, "bearer_methods_supported"));
        Assert.Equal(["neotoma:read", "neotoma:write"], Strings(resource, "scopes_supported"));
    }

    [Fact]
    public async Task Metadata_NeedsNoAuthentication_EvenWithABadToken()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/.well-known/oauth-authorization-server");
        request.Headers.Authorization = new("Bearer", "garbage");

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task<JsonElement> GetJsonAsync(string path)
    {
        var response = await fixture.Server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    private static string[] Strings(JsonElement element, string name) =>
        element.GetProperty(name).EnumerateArray().Select(e => e.GetString()!).ToArray();
}
