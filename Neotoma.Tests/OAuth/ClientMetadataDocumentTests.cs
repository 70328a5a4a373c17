using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The app with an https host for client metadata documents on loopback, which the product's fence
/// refuses: the fixture registers <see cref="LoopbackDocumentFence"/> in its place, through DI.
/// </summary>
public class DocumentsOAuthFixture : OAuthFixture
{
    public MetadataDocumentHost Documents { get; private set; } = null!;

    protected override async Task BeforeStartAsync() => Documents = await MetadataDocumentHost.StartAsync();

    /// <summary>A 1 s fetch timeout instead of 5, so the slow-host test waits less.</summary>
    protected override void ConfigureServices(IServiceCollection services)
    {
        services.Configure<ClientMetadataDocumentOptions>(documents => documents.Timeout = TimeSpan.FromSeconds(1));
        services.AddSingleton<DocumentFetchFence>(new LoopbackDocumentFence(X509CertificateLoader.LoadCertificateFromFile(Documents.CaFile), Documents.Origin.Port));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Documents.DisposeAsync();
    }
}

/// <summary>
/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP authorization
/// 2025-11-25 "Client ID Metadata Documents"): an https client_id is fetched, checked and cached;
/// every way a document or its host can be unusable is a clear OAUTH_CLIENT_METADATA_DOCUMENT_INVALID.
/// </summary>
public sealed class ClientMetadataDocumentTests(DocumentsOAuthFixture fixture) : IClassFixture<DocumentsOAuthFixture>
{
    private const string Callback = "http://127.0.0.1:8787/callback";

    private MetadataDocumentHost Documents => fixture.Documents;

    private Task<HttpResponseMessage> AuthorizeAsync(string clientId, string redirectUri = Callback) =>
        fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(new OAuthFixture.RegisteredClient(clientId, new Uri(redirectUri)), OAuthFixture.NewPkce().Challenge));

    private async Task AssertRefusedAsync(string clientId, string because)
    {
        using var response = await AuthorizeAsync(clientId);
        var page = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Null(response.Headers.Location);
        Assert.Contains("OAUTH_CLIENT_METADATA_DOCUMENT_INVALID", page);
        Assert.Contains(because, page);
    }

    [Fact]
    public async Task Metadata_AdvertisesClientIdMetadataDocuments()
    {
        var metadata = await fixture.Server.Client.GetFromJsonAsync<System.Text.Json.JsonElement>("/.well-known/oauth-authorization-server");

        Assert.True(metadata.GetProperty("client_id_metadata_document_supported").GetBoolean());
    }

    [Fact]
    public async Task SdkClient_IdentifiedByItsDocument_SignsInWithoutRegistering()
    {
        var url = Documents.MapDocument("/sdk/client.json", "C# SDK by document", ["http://localhost:8787/callback"]);
        var registered = await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients WHERE document_expires_at IS NULL");
        using var browser = new BrowserAgent();
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(fixture.Resource),
            OAuth = new ModelContextProtocol.Authentication.ClientOAuthOptions
            {
                RedirectUri = new Uri("http://localhost:8787/callback"),
                ClientMetadataDocumentUri = new Uri(url),
                AuthorizationCallbackHandler = async (context, _) =>
                {
                    var landing = await browser.SignInAsync(context.AuthorizationUri, context.RedirectUri, "cimd-sdk");
                    var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(landing.Query);
                    return new ModelContextProtocol.Authentication.AuthorizationResult { Code = query["code"], State = query["state"], Iss = query["iss"] };
                },
            },
        }, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

        await using var client = await McpClient.CreateAsync(transport);
        var result = await client.CallToolAsync("get_authenticated_user");

        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.Contains($"\"client_id\":\"{url}\"", text);
        Assert.Contains("\"user_id\":\"cimd-sdk\"", text);
        Assert.Equal(registered, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_clients WHERE document_expires_at IS NULL"));
    }

    [Fact]
    public async Task TypeScriptSdkClient_IdentifiedByItsDocument_SignsInRefreshesStoresAndRetrieves()
    {
        var url = Documents.MapDocument("/ts/client.json", "TypeScript SDK by document", [TypeScriptClient.RedirectUri.ToString()]);

        var run = await TypeScriptClient.RunAsync("client.mjs", fixture.Resource, (_, uri) => TypeScriptClient.SignInAsync(uri, "cimd-ts"),
            new Dictionary<string, string> { ["CLIENT_METADATA_URL"] = url });

        Assert.All(run.Authorizations, uri => Assert.Contains("client_id=" + Uri.EscapeDataString(url), uri.Query));
        Assert.Equal("cimd-ts", TypeScriptSdkClientTests.UserIdOf(run.Output["RESULT_AFTER_REFRESH"]));
        Assert.Equal(1, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM entities WHERE user_id = 'cimd-ts' AND canonical_name = 'Acme Rockets'"));
    }

    [Fact]
    public async Task ConsentPage_ShowsTheDocumentsNameAndTheHostItCameFrom()
    {
        var url = Documents.MapDocument("/consent/client.json", "Example Agent", [Callback]);

        using var response = await AuthorizeAsync(url);
        var page = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        // The host first, then the name the document gives, isolated so it cannot reorder the sentence.
        Assert.Contains($"<code>{Documents.Origin.Authority}</code> describes a client named <strong><bdi>Example Agent</bdi></strong>", page);
    }

    [Fact]
    public async Task Document_IsCachedWhileItsMaxAgeAllows_AcrossAuthorizeAndConsent()
    {
        var url = Documents.MapDocument("/cached/client.json", "Cached", [Callback], cacheControl: "max-age=3600");

        using var first = await AuthorizeAsync(url);
        using var second = await AuthorizeAsync(url);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(1, Documents.RequestsFor("/cached/client.json"));
    }

    [Fact]
    public async Task Document_WithNoCache_IsRevalidatedWithItsETag()
    {
        var url = Documents.MapDocument("/etag/client.json", "Revalidated", [Callback], cacheControl: "no-cache", etag: "\"v1\"");

        using var first = await AuthorizeAsync(url);
        using var second = await AuthorizeAsync(url);

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal([null, "\"v1\""], Documents.Requests.Where(r => r.Path == "/etag/client.json").Select(r => r.IfNoneMatch));
    }

    [Fact]
    public async Task RedirectUri_FollowsTheRulesOfRegisteredClients_LoopbackPortsIncluded()
    {
        var url = Documents.MapDocument("/ports/client.json", "Ports", ["http://127.0.0.1/callback"]);

        using var otherPort = await AuthorizeAsync(url, "http://127.0.0.1:51234/callback");
        using var otherPath = await AuthorizeAsync(url, "http://127.0.0.1:51234/elsewhere");

        Assert.Equal(HttpStatusCode.OK, otherPort.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, otherPath.StatusCode);
        Assert.Contains("OAUTH_INVALID_REDIRECT_URI", await otherPath.Content.ReadAsStringAsync());
    }

    [Fact]
    public Task HttpClientId_IsRefused() =>
        AssertRefusedAsync(Documents.Url("/plain/client.json").Replace("https://", "http://"), "must use https");

    [Fact]
    public Task ClientIdWithoutAPath_IsRefused() => AssertRefusedAsync(Documents.Origin.ToString(), "needs a path");

    [Theory]
    [InlineData("https://10.0.0.7/client.json")]
    [InlineData("https://169.254.169.254/metadata.json")]
    [InlineData("https://[fd00::1]/client.json")]
    [InlineData("https://100.64.0.1/client.json")]
    public Task PrivateAndLinkLocalAddresses_AreNeverFetched(string clientId) =>
        AssertRefusedAsync(clientId, "non-public addresses");

    [Fact]
    public async Task RedirectToAnotherHost_IsNotFollowed()
    {
        var elsewhere = $"https://localhost:{Documents.Origin.Port}/elsewhere/client.json";
        Documents.Map("/moved/client.json", context =>
        {
            context.Response.Redirect(elsewhere);
            return Task.CompletedTask;
        });

        await AssertRefusedAsync(Documents.Url("/moved/client.json"), "redirects to another host");
        Assert.Equal(0, Documents.RequestsFor("/elsewhere/client.json"));
    }

    [Fact]
    public async Task RedirectWithinTheSameHost_IsFollowed()
    {
        var url = Documents.Url("/old/client.json");
        Documents.Map("/old/client.json", context =>
        {
            context.Response.Redirect("/new/client.json");
            return Task.CompletedTask;
        });
        Documents.Map("/new/client.json", context => context.Response.WriteAsJsonAsync(new { client_id = url, client_name = "Moved", redirect_uris = new[] { Callback } }));

        using var response = await AuthorizeAsync(url);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public Task DocumentNamingAnotherClientId_IsRefused()
    {
        Documents.Map("/liar/client.json", context =>
            context.Response.WriteAsJsonAsync(new { client_id = "https://trusted.example/client.json", client_name = "Trusted", redirect_uris = new[] { Callback } }));

        return AssertRefusedAsync(Documents.Url("/liar/client.json"), "must be exactly the URL it is served from");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public Task OversizedDocument_IsRefused(bool declaresLength)
    {
        var path = $"/big-{declaresLength}/client.json";
        var url = Documents.Url(path);
        var padding = new string('x', 6 * 1024);
        var body = System.Text.Json.JsonSerializer.Serialize(new { client_id = url, client_name = padding, redirect_uris = new[] { Callback } });
        Documents.Map(path, async context =>
        {
            context.Response.ContentType = "application/json";
            if (declaresLength)
            {
                context.Response.ContentLength = System.Text.Encoding.UTF8.GetByteCount(body);
            }

            await context.Response.WriteAsync(body);
        });

        return AssertRefusedAsync(url, "larger than 5120 bytes");
    }

    [Fact]
    public Task SlowHost_IsRefusedAfterTheTimeout()
    {
        Documents.Map("/slow/client.json", async context => await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted));

        return AssertRefusedAsync(Documents.Url("/slow/client.json"), "did not answer within 1 s");
    }

    [Fact]
    public Task BadJson_IsRefused()
    {
        Documents.Map("/broken/client.json", context => context.Response.WriteAsync("{\"client_id\": "));

        return AssertRefusedAsync(Documents.Url("/broken/client.json"), "cannot be used");
    }

    [Fact]
    public Task MissingDocument_IsRefused() => AssertRefusedAsync(Documents.Url("/missing/client.json"), "answered HTTP 404");

    /// <summary>private_key_jwt is taken with an https jwks_uri only: without one, with keys inline, or with an http one, the document is refused.</summary>
    [Theory]
    [InlineData("/jwt/no-uri.json", null, false, "private_key_jwt needs a jwks_uri")]
    [InlineData("/jwt/inline.json", null, true, "keys inline in the document (jwks) are not supported")]
    [InlineData("/jwt/http.json", "http://127.0.0.1/jwks.json", false, "jwks_uri must be an https URL")]
    public Task ConfidentialClientDocument_WithoutAnHttpsJwksUri_IsRefused(string path, string? jwksUri, bool inlineKeys, string because)
    {
        var url = Documents.Url(path);
        Documents.Map(path, context => context.Response.WriteAsJsonAsync(new Dictionary<string, object?>
        {
            ["client_id"] = url, ["client_name"] = "Confidential", ["redirect_uris"] = new[] { Callback }, ["token_endpoint_auth_method"] = "private_key_jwt",
            ["jwks_uri"] = jwksUri, ["jwks"] = inlineKeys ? new { keys = Array.Empty<object>() } : null,
        }));

        return AssertRefusedAsync(url, because);
    }

    [Fact]
    public Task DocumentWithAnUnsupportedAuthMethod_IsRefused()
    {
        var url = Documents.Url("/secret/client.json");
        Documents.Map("/secret/client.json", context => context.Response.WriteAsJsonAsync(new
        {
            client_id = url, client_name = "Secret", redirect_uris = new[] { Callback }, token_endpoint_auth_method = "client_secret_basic",
        }));

        return AssertRefusedAsync(url, "token_endpoint_auth_method must be \"none\" (PKCE alone) or \"private_key_jwt\"");
    }
}

/// <summary>Without the test-only setting, a document on a loopback address is refused before any connection.</summary>
public sealed class ClientMetadataDocumentDefaultsTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>, IAsyncLifetime
{
    private MetadataDocumentHost documents = null!;

    public async Task InitializeAsync() => documents = await MetadataDocumentHost.StartAsync();

    public async Task DisposeAsync() => await documents.DisposeAsync();

    [Fact]
    public async Task LoopbackDocument_IsRefusedAndNeverFetched_WithoutTheTestOnlySetting()
    {
        var url = documents.MapDocument("/client.json", "Loopback", ["http://127.0.0.1:8787/callback"]);

        using var response = await fixture.Server.Client.GetAsync(
            fixture.AuthorizeUrl(new OAuthFixture.RegisteredClient(url, new Uri("http://127.0.0.1:8787/callback")), OAuthFixture.NewPkce().Challenge));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("non-public addresses", WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync()));
        Assert.Empty(documents.Requests);
    }
}
