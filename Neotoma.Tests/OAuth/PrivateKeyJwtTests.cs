using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.Client;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The app and the stand-in document host serving ChatGPT's published metadata document (a
/// confidential client: <c>private_key_jwt</c> with a <c>jwks_uri</c>) and that JWKS, whose private
/// keys <see cref="Keys"/> holds, as ChatGPT holds its own.
/// </summary>
public sealed class ChatGptOAuthFixture : DocumentsOAuthFixture
{
    public const string ClientId = "https://chatgpt.com/oauth/client.json";
    public const string JwksUri = "https://chatgpt.com/oauth/jwks.json";
    public static readonly Uri RedirectUri = new("https://chatgpt.com/connector_platform_oauth_redirect");

    public const string Document = """
        {"client_id":"https://chatgpt.com/oauth/client.json","client_name":"ChatGPT",
         "redirect_uris":["https://chatgpt.com/connector_platform_oauth_redirect"],
         "grant_types":["authorization_code","refresh_token"],"response_types":["code"],
         "token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://chatgpt.com/oauth/jwks.json"}
        """;

    public ClientKeys Keys { get; } = new("chatgpt");

    public OAuthFixture.RegisteredClient Client { get; } = new(ClientId, RedirectUri);

    public string TokenEndpoint => Issuer + "/api/mcp/oauth/token";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Documents.MapPublished(ClientId, Document);
        Documents.MapPublished(JwksUri, Keys.Jwks());
    }

    /// <summary>A fresh assertion of ChatGPT's, for our token endpoint.</summary>
    public string Assertion(string alg = "RS256") => Keys.Sign(ClientKeys.Claims(ClientId, TokenEndpoint), alg);

    /// <summary>ChatGPT's sign-in run to its tokens: authorize in a browser, then the code redeemed with PKCE and an assertion.</summary>
    public async Task<Tokens> SignInChatGptAsync(string login, string alg = "RS256")
    {
        var (verifier, challenge) = NewPkce();
        using var browser = new BrowserAgent();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(AuthorizeUrl(Client, challenge), RedirectUri, login)).Query);
        Assert.Equal(Issuer, landing["iss"].ToString());
        return await ReadTokensAsync(await TokenRequestAsync(
            ClientKeys.WithAssertion(CodeRedemption(Client, landing["code"].ToString(), verifier, Resource), Assertion(alg))));
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        Keys.Dispose();
    }
}

/// <summary>
/// <c>private_key_jwt</c> client authentication (RFC 7523 §2.2 and §3; OpenID Connect Core §9) for
/// ChatGPT's published metadata document: sign-in, a tool call through the MCP SDK client and
/// refreshes, each token request signed; every hostile or broken assertion is 401 invalid_client with
/// its own error_code, and spends nothing.
/// </summary>
public sealed class PrivateKeyJwtTests(ChatGptOAuthFixture fixture) : IClassFixture<ChatGptOAuthFixture>
{
    private const string ChatGpt = ChatGptOAuthFixture.ClientId;

    private static async Task AssertRefusedAsync(HttpResponseMessage response, string errorCode, string because)
    {
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("invalid_client", body.GetProperty("error").GetString());
        Assert.Equal(errorCode, body.GetProperty("error_code").GetString());
        Assert.Contains(because, body.GetProperty("error_description").GetString());
    }

    private Task<HttpResponseMessage> RefreshAsync(string refreshToken, string? assertion, string? clientId = ChatGpt)
    {
        var form = new Dictionary<string, string> { ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken };
        if (clientId is not null)
        {
            form["client_id"] = clientId;
        }

        return fixture.TokenRequestAsync(assertion is null ? form : ClientKeys.WithAssertion(form, assertion));
    }

    [Fact]
    public async Task Metadata_AdvertisesPrivateKeyJwt_ForTokenAndRevocation()
    {
        var metadata = await fixture.Server.Client.GetFromJsonAsync<JsonElement>("/.well-known/oauth-authorization-server");

        string[] Strings(string member) => [.. metadata.GetProperty(member).EnumerateArray().Select(e => e.GetString()!)];
        // The secret methods are for the operator's enterprise clients (the JWT bearer grant) only.
        Assert.Equal(["none", "private_key_jwt", "client_secret_basic", "client_secret_post"], Strings("token_endpoint_auth_methods_supported"));
        Assert.Equal(["none", "private_key_jwt"], Strings("revocation_endpoint_auth_methods_supported"));
        Assert.Equal(["RS256", "ES256", "PS256"], Strings("token_endpoint_auth_signing_alg_values_supported"));
    }

    [Fact]
    public async Task ChatGptDocument_SignsIn_CallsATool_AndRefreshes_EachTokenRequestSigned()
    {
        const string Recorded = "SELECT count(*) FROM mcp_oauth_jwt_ids WHERE issuer = @c AND expires_at > now()";
        var recordedBefore = await fixture.Database.AdminScalarAsync<long>(Recorded, ("c", ChatGpt));
        var tokens = await fixture.SignInChatGptAsync("published-chatgpt");

        Assert.Equal("private_key_jwt", await fixture.Database.AdminScalarAsync<string>(
            "SELECT token_endpoint_auth_method FROM mcp_oauth_clients WHERE client_id = @c", ("c", ChatGpt)));
        Assert.Equal(ChatGptOAuthFixture.JwksUri, await fixture.Database.AdminScalarAsync<string>(
            "SELECT jwks_uri FROM mcp_oauth_clients WHERE client_id = @c", ("c", ChatGpt)));
        await using (var mcp = await fixture.ConnectWithTokenAsync(tokens.AccessToken))
        {
            Assert.Contains(await mcp.ListToolsAsync(), tool => tool.Name == "retrieve_entities");
            var result = await mcp.CallToolAsync("get_authenticated_user");
            Assert.NotEqual(true, result.IsError);
            Assert.Contains("published-chatgpt", JsonSerializer.Serialize(result.Content));
        }

        // The connections page says who vouches for it and that it signs its requests with its own key.
        var listed = Assert.Single(await fixture.Server.Services.GetRequiredService<ConnectionsService>().ListAsync("published-chatgpt", CancellationToken.None));
        Assert.Equal("chatgpt.com", listed.DocumentHost);
        Assert.True(listed.SignsRequests);

        // Each of the three algorithms, and the client_id left out (the assertion names the client).
        var refreshed = await OAuthFixture.ReadTokensAsync(await RefreshAsync(tokens.RefreshToken, fixture.Assertion("ES256")));
        refreshed = await OAuthFixture.ReadTokensAsync(await RefreshAsync(refreshed.RefreshToken, fixture.Assertion("PS256"), clientId: null));
        using var tools = await fixture.SendMcpAsync(refreshed.AccessToken);
        Assert.Equal(HttpStatusCode.OK, tools.StatusCode);
        Assert.Equal(recordedBefore + 3, await fixture.Database.AdminScalarAsync<long>(Recorded, ("c", ChatGpt)));
    }

    public static TheoryData<string, string, string> HostileAssertions => new()
    {
        { "wrong aud", "OAUTH_CLIENT_ASSERTION_INVALID", "aud must be the token endpoint" },
        { "aud naming another server too", "OAUTH_CLIENT_ASSERTION_INVALID", "alone" },
        { "typ of an ID-JAG", "OAUTH_CLIENT_ASSERTION_INVALID", "is not a client assertion's" },
        { "exp past the year 9999", "OAUTH_CLIENT_ASSERTION_INVALID", "exp is more than 5 minutes ahead" },
        { "nbf past the year 9999", "OAUTH_CLIENT_ASSERTION_INVALID", "nbf is in the future" },
        { "expired", "OAUTH_CLIENT_ASSERTION_INVALID", "it expired" },
        { "exp too far ahead", "OAUTH_CLIENT_ASSERTION_INVALID", "exp is more than 5 minutes ahead" },
        { "no jti", "OAUTH_CLIENT_ASSERTION_INVALID", "it has no jti" },
        { "iss not the client", "OAUTH_CLIENT_ASSERTION_INVALID", "iss and sub must both be the client_id" },
        { "sub not the client", "OAUTH_CLIENT_ASSERTION_INVALID", "iss and sub must both be the client_id" },
        { "alg none", "OAUTH_CLIENT_ASSERTION_INVALID", "alg none is not accepted" },
        { "HS256 keyed with the public key", "OAUTH_CLIENT_ASSERTION_INVALID", "alg HS256 is not accepted" },
        { "signature of another payload", "OAUTH_CLIENT_ASSERTION_INVALID", "the signature does not match" },
        { "not a JWT", "OAUTH_CLIENT_ASSERTION_INVALID", "is not a signed JWT" },
        { "JWE-shaped with a bad segment", "OAUTH_CLIENT_ASSERTION_INVALID", "is not a signed JWT" },
    };

    /// <summary>RFC 7523 §3: each claim and the signature checked; a refusal spends neither the refresh token nor anything else.</summary>
    [Theory]
    [MemberData(nameof(HostileAssertions))]
    public async Task HostileAssertion_IsInvalidClient_AndSpendsNothing(string name, string errorCode, string because)
    {
        var tokens = await fixture.SignInChatGptAsync("hostile-" + name.Replace(' ', '-'));
        var claims = ClientKeys.Claims(ChatGpt, fixture.TokenEndpoint);
        var alg = "RS256";
        switch (name)
        {
            case "wrong aud": claims["aud"] = "https://elsewhere.example/token"; break;
            case "aud naming another server too": claims["aud"] = new[] { fixture.Issuer, "https://elsewhere.example" }; break;
            case "exp past the year 9999": claims["exp"] = 99_999_999_999_999L; break;
            case "nbf past the year 9999": claims["nbf"] = 99_999_999_999_999L; break;
            case "expired": claims["exp"] = DateTimeOffset.UtcNow.AddMinutes(-2).ToUnixTimeSeconds(); break;
            case "exp too far ahead": claims["exp"] = DateTimeOffset.UtcNow.AddMinutes(10).ToUnixTimeSeconds(); break;
            case "no jti": claims.Remove("jti"); break;
            case "iss not the client": claims["iss"] = "https://evil.example/client.json"; break;
            case "sub not the client": claims["sub"] = "someone-else"; break;
            case "alg none": alg = "none"; break;
            case "HS256 keyed with the public key": alg = "HS256"; break;
        }

        var assertion = name switch
        {
            "signature of another payload" => string.Join('.', fixture.Keys.Sign(claims).Split('.')[..2]) + "." + fixture.Assertion().Split('.')[2],
            "not a JWT" => "not-a-jwt",
            "JWE-shaped with a bad segment" => Microsoft.IdentityModel.Tokens.Base64UrlEncoder.Encode("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}") + ".a.b.c.d",
            "typ of an ID-JAG" => fixture.Keys.Sign(claims, typ: "oauth-id-jag+jwt"),
            _ => fixture.Keys.Sign(claims, alg),
        };

        await AssertRefusedAsync(await RefreshAsync(tokens.RefreshToken, assertion), errorCode, because);
        Assert.DoesNotContain(assertion.Split('.')[^1] is { Length: > 8 } signature ? signature : "\u0000", string.Join("\n", fixture.Logs.Lines));
        await OAuthFixture.ReadTokensAsync(await RefreshAsync(tokens.RefreshToken, fixture.Assertion()));
    }

    [Fact]
    public async Task ClientDeclaringPrivateKeyJwt_WithoutAnAssertion_IsRefused_PkceAloneIsNotEnough()
    {
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(fixture.Client, challenge), fixture.Client.RedirectUri, "no-assertion")).Query);
        var redemption = OAuthFixture.CodeRedemption(fixture.Client, landing["code"].ToString(), verifier, fixture.Resource);

        await AssertRefusedAsync(await fixture.TokenRequestAsync(redemption), "OAUTH_CLIENT_ASSERTION_MISSING", "declared token_endpoint_auth_method private_key_jwt");
        // The code was not spent by the refusal: signed, the same redemption works.
        await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(ClientKeys.WithAssertion(redemption, fixture.Assertion())));
    }

    [Fact]
    public async Task ReplayedAssertion_IsRefused()
    {
        var tokens = await fixture.SignInChatGptAsync("replay");
        var assertion = fixture.Assertion();
        var refreshed = await OAuthFixture.ReadTokensAsync(await RefreshAsync(tokens.RefreshToken, assertion));

        await AssertRefusedAsync(await RefreshAsync(refreshed.RefreshToken, assertion), "OAUTH_CLIENT_ASSERTION_REPLAYED", "its jti was used before");
    }

    /// <summary>The jti is taken by one insert that lands or not: of two requests carrying one assertion at once, exactly one gets tokens.</summary>
    [Fact]
    public async Task OneAssertion_SentTwiceAtOnce_ExactlyOneSucceeds()
    {
        var tokens = await fixture.SignInChatGptAsync("replay-race");
        var assertion = fixture.Assertion();

        var responses = await Task.WhenAll(RefreshAsync(tokens.RefreshToken, assertion), RefreshAsync(tokens.RefreshToken, assertion));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        await AssertRefusedAsync(Assert.Single(responses, r => r.StatusCode != HttpStatusCode.OK), "OAUTH_CLIENT_ASSERTION_REPLAYED", "its jti was used before");
    }

    /// <summary>A kid the cached set lacks makes one read of the JWKS (the client may have rotated), and no more within 30 s.</summary>
    [Fact]
    public async Task KeyNotInTheJwks_IsRefused_AfterOneRefetch()
    {
        var tokens = await fixture.SignInChatGptAsync("unknown-key");
        using var stranger = new ClientKeys("stranger");
        var before = fixture.Documents.RequestsFor("/oauth/jwks.json");

        await AssertRefusedAsync(await RefreshAsync(tokens.RefreshToken, stranger.Sign(ClientKeys.Claims(ChatGpt, fixture.TokenEndpoint))),
            "OAUTH_CLIENT_ASSERTION_KEY_UNKNOWN", "kid stranger-rsa");
        Assert.Equal(before + 1, fixture.Documents.RequestsFor("/oauth/jwks.json"));

        await AssertRefusedAsync(await RefreshAsync(tokens.RefreshToken, stranger.Sign(ClientKeys.Claims(ChatGpt, fixture.TokenEndpoint), "ES256")),
            "OAUTH_CLIENT_ASSERTION_KEY_UNKNOWN", "not in the client's key set");
        Assert.Equal(before + 1, fixture.Documents.RequestsFor("/oauth/jwks.json"));
    }

    [Fact]
    public async Task PublicClient_SendingAnAssertion_IsRefused()
    {
        var (tokens, client) = await fixture.SignInAsync("public-with-assertion");

        await AssertRefusedAsync(await fixture.TokenRequestAsync(ClientKeys.WithAssertion(OAuthFixture.RefreshForm(client, tokens.RefreshToken),
            fixture.Keys.Sign(ClientKeys.Claims(client.ClientId, fixture.TokenEndpoint)))), "OAUTH_CLIENT_ASSERTION_INVALID", "declared token_endpoint_auth_method none");
    }

    /// <summary>RFC 7009 §2.1: a confidential client's token is revoked at its authenticated request only.</summary>
    [Fact]
    public async Task Revocation_NeedsTheAssertion_AndWithItRevokesTheConnection()
    {
        var tokens = await fixture.SignInChatGptAsync("revoker");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        Task<HttpResponseMessage> Revoke(Dictionary<string, string> form) => fixture.Server.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(form));

        await AssertRefusedAsync(await Revoke(new() { ["token"] = tokens.RefreshToken, ["client_id"] = ChatGpt }),
            "OAUTH_CLIENT_ASSERTION_MISSING", "private_key_jwt");
        Assert.Equal(HttpStatusCode.OK, (await Revoke(new() { ["token"] = tokens.RefreshToken })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);

        using var revoked = await Revoke(ClientKeys.WithAssertion(new Dictionary<string, string> { ["token"] = tokens.RefreshToken, ["client_id"] = ChatGpt },
            fixture.Assertion()));

        Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>("SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
    }

    /// <summary>A client's key host that does not answer is a dependency down: 503 with Retry-After, and the code is still good once it answers.</summary>
    [Fact]
    public async Task JwksHostDown_Is503WithRetryAfter_AndSpendsNothing()
    {
        var clientId = fixture.Documents.Url("/down/client.json");
        var jwksUri = fixture.Documents.Url("/down/jwks.json");
        fixture.Documents.Map("/down/client.json", context => context.Response.WriteAsJsonAsync(new
        {
            client_id = clientId, client_name = "Keys down", redirect_uris = new[] { "https://client.example/callback" },
            token_endpoint_auth_method = "private_key_jwt", jwks_uri = jwksUri,
        }));
        var down = true;
        fixture.Documents.Map("/down/jwks.json", context =>
        {
            if (down)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return Task.CompletedTask;
            }

            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync(fixture.Keys.Jwks());
        });
        var client = new OAuthFixture.RegisteredClient(clientId, new Uri("https://client.example/callback"));
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, "keys-down")).Query);
        var redemption = OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier, fixture.Resource);
        string Assertion() => fixture.Keys.Sign(ClientKeys.Claims(clientId, fixture.Issuer));

        using var refused = await fixture.TokenRequestAsync(ClientKeys.WithAssertion(redemption, Assertion()));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal("5", refused.Headers.RetryAfter?.ToString());
        Assert.Equal("OAUTH_CLIENT_JWKS_UNAVAILABLE", JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error_code").GetString());
        down = false;
        await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(ClientKeys.WithAssertion(redemption, Assertion())));
    }

    /// <summary>
    /// Issue 24: a document that changes its auth method holds from its next fetch; tokens already
    /// issued keep working until their refresh, which then needs the new method.
    /// </summary>
    [Fact]
    public async Task DocumentSwitchingToPrivateKeyJwt_LiveTokensKeepWorking_RefreshThenNeedsAnAssertion()
    {
        var clientId = fixture.Documents.Url("/switch/client.json");
        var method = "none";
        fixture.Documents.Map("/switch/client.json", context =>
        {
            context.Response.Headers.CacheControl = "no-cache";
            return context.Response.WriteAsJsonAsync(new Dictionary<string, object?>
            {
                ["client_id"] = clientId, ["client_name"] = "Switches", ["redirect_uris"] = new[] { "http://127.0.0.1/callback" },
                ["token_endpoint_auth_method"] = method, ["jwks_uri"] = method == "none" ? null : ChatGptOAuthFixture.JwksUri,
            });
        });
        var client = new OAuthFixture.RegisteredClient(clientId, new Uri("http://127.0.0.1:40555/callback"));
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, "switcher")).Query);
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(
            OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier, fixture.Resource)));

        method = "private_key_jwt";
        using (var fetched = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge)))
        {
            Assert.Equal(HttpStatusCode.OK, fetched.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        await AssertRefusedAsync(await RefreshAsync(tokens.RefreshToken, null, clientId), "OAUTH_CLIENT_ASSERTION_MISSING", "private_key_jwt");
        await OAuthFixture.ReadTokensAsync(await RefreshAsync(tokens.RefreshToken, fixture.Keys.Sign(ClientKeys.Claims(clientId, fixture.TokenEndpoint)), clientId));
    }

    /// <summary>
    /// Key set URLs are chosen by whoever publishes a document, so the cache of key sets is bounded: past its
    /// size the set that expires soonest leaves, and a set with more keys than an honest client publishes is refused.
    /// </summary>
    [Fact]
    public async Task KeySetCache_IsBounded_AndAnOversizedSetIsRefused()
    {
        var urls = Enumerable.Range(0, 3).Select(i => $"https://chatgpt.com/oauth/bounded-{i}.json").ToArray();
        foreach (var url in urls)
        {
            fixture.Documents.MapPublished(url, fixture.Keys.Jwks());
        }

        var jwks = new ClientJwks(fixture.Server.Services.GetRequiredService<IHttpClientFactory>(), new ClientJwksOptions { MaxCachedSets = 2 },
            TimeProvider.System, NullLogger<ClientJwks>.Instance);
        foreach (var url in urls)
        {
            Assert.NotEmpty(await jwks.GetAsync(url, CancellationToken.None));
        }

        Assert.Equal(2, jwks.CachedSets);

        using var many = JsonDocument.Parse(fixture.Keys.Jwks());
        var key = many.RootElement.GetProperty("keys")[0].GetRawText();
        var oversized = "https://chatgpt.com/oauth/oversized.json";
        fixture.Documents.MapPublished(oversized, "{\"keys\":[" + string.Join(",", Enumerable.Repeat(key, 17)) + "]}");
        var refused = await Assert.ThrowsAsync<OAuthException>(() => jwks.GetAsync(oversized, CancellationToken.None));
        Assert.Equal(OAuthErrorCode.OAUTH_CLIENT_JWKS_INVALID, refused.Code);
        Assert.Contains("17 signing keys", refused.Message);
    }
}
