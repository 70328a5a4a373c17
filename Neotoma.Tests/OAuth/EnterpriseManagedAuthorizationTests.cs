using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Core.Errors;
using Neotoma.Core.OAuth;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// Issue 25: enterprise-managed authorization (MCP ext-auth), the JWT bearer grant (RFC 7523 §2.1) with an
/// ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §4.4.1) issued by the dev provider's token exchange.
/// </summary>
public sealed class EnterpriseManagedAuthorizationTests(EnterpriseFixture fixture) : IClassFixture<EnterpriseFixture>
{
    private static async Task<JsonElement> JsonOf(HttpResponseMessage response)
    {
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    private static async Task AssertRefusedAsync(HttpResponseMessage response, HttpStatusCode status, string error, string code)
    {
        var body = await JsonOf(response);
        Assert.True(response.StatusCode == status, $"{(int)response.StatusCode}: {body}");
        Assert.Equal(error, body.GetProperty("error").GetString());
        Assert.Equal(code, body.GetProperty("error_code").GetString());
    }

    private async Task<string> CallWhoAmIAsync(string accessToken)
    {
        var transport = new HttpClientTransport(new HttpClientTransportOptions
        {
            Endpoint = new Uri(fixture.Resource),
            AdditionalHeaders = new Dictionary<string, string> { ["Authorization"] = "Bearer " + accessToken },
        }, NullLoggerFactory.Instance);
        await using var mcp = await McpClient.CreateAsync(transport);
        var result = await mcp.CallToolAsync("get_authenticated_user");
        return Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
    }

    // ---- Discovery -------------------------------------------------------------------------------------

    [Fact]
    public async Task Discovery_ListsTheJwtBearerGrant_AndTheIdJagProfile()
    {
        var metadata = await JsonOf(await fixture.App.Client.GetAsync("/.well-known/oauth-authorization-server"));

        Assert.Contains("urn:ietf:params:oauth:grant-type:jwt-bearer", metadata.GetProperty("grant_types_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["urn:ietf:params:oauth:grant-profile:id-jag"],
            metadata.GetProperty("authorization_grant_profiles_supported").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("client_secret_basic", metadata.GetProperty("token_endpoint_auth_methods_supported").EnumerateArray().Select(e => e.GetString()));
    }

    // ---- Enterprise clients (the operator's verb) ----

    [Fact]
    public async Task EnterpriseClients_KeepOnlyTheSecretsHash_AndRefuseWhatCannotAuthenticate()
    {
        var clients = fixture.Server.Services.GetRequiredService<EnterpriseClients>();

        var made = await clients.RegisterAsync("Acme bot", ClientSecrets.Post, null, null, CancellationToken.None);
        var keyed = await clients.RegisterAsync("Acme signer", ClientAssertions.PrivateKeyJwt, "https://acme.example/jwks.json", null, CancellationToken.None);

        Assert.StartsWith("ent_", made.ClientId);
        Assert.Null(keyed.ClientSecret);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_clients WHERE client_secret_hash = @s", ("s", made.ClientSecret!)));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_clients WHERE client_id = @c AND enterprise AND client_secret_hash IS NOT NULL AND redirect_uris = '{}'",
            ("c", made.ClientId)));
        await Assert.ThrowsAsync<OAuthException>(() => clients.RegisterAsync("x", "none", null, null, CancellationToken.None));
        await Assert.ThrowsAsync<OAuthException>(() => clients.RegisterAsync("x", ClientAssertions.PrivateKeyJwt, "http://acme.example/jwks", null, CancellationToken.None));
        await Assert.ThrowsAsync<OAuthException>(() => clients.RegisterAsync("x", ClientSecrets.Basic, null, EnterpriseFixture.BasicClientId, CancellationToken.None));
        // Not a client of the browser flow: the authorization endpoint does not know it.
        var authorize = await fixture.App.Client.GetAsync(fixture.AuthorizeUrl(new OAuthFixture.RegisteredClient(made.ClientId, new Uri("http://127.0.0.1:8787/callback")),
            OAuthFixture.NewPkce().Challenge));
        Assert.Equal(HttpStatusCode.Unauthorized, authorize.StatusCode);
        Assert.Contains("OAUTH_INVALID_CLIENT", await authorize.Content.ReadAsStringAsync());
    }

    // ---- The grant ---------------------------------------------------------------------------------------

    [Fact]
    public async Task IdJagFromTheIdP_GivesAnAccessTokenWithoutRefreshToken_ThatCallsATool()
    {
        var idJag = await fixture.IdJagAsync("nora");

        var response = await fixture.GrantAsync(idJag);

        var body = await JsonOf(response);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body.ToString());
        Assert.False(body.TryGetProperty("refresh_token", out _));
        Assert.Equal(600, body.GetProperty("expires_in").GetInt32());
        Assert.Equal("neotoma:read neotoma:write", body.GetProperty("scope").GetString());
        // The dev IdP is also the interactive upstream: the person is the same user either way (the sub).
        Assert.Contains("\"user_id\":\"nora\"", await CallWhoAmIAsync(body.GetProperty("access_token").GetString()!));
        Assert.Equal("enterprise", await fixture.Database.AdminScalarAsync<string>(
            "SELECT origin FROM mcp_oauth_connections WHERE user_id = 'nora' AND client_id = @c AND revoked_at IS NULL", ("c", EnterpriseFixture.BasicClientId)));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'enterprise_access_granted' AND user_id = 'nora' AND success"));
    }

    /// <summary>
    /// RFC 7009 §2.1: an enterprise client is confidential, so its token is revoked only at its proven request
    /// (its secret, as at the token endpoint); anyone else holding the token is answered 200 and changes nothing.
    /// </summary>
    [Fact]
    public async Task Revocation_OfAnEnterpriseClientsToken_NeedsTheClientsSecret()
    {
        var token = (await JsonOf(await fixture.GrantAsync(await fixture.IdJagAsync("pia")))).GetProperty("access_token").GetString()!;
        var form = () => new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = token });

        var unproven = await fixture.App.Client.PostAsync("/api/mcp/oauth/revoke", form());
        Assert.Equal(HttpStatusCode.OK, unproven.StatusCode);
        Assert.Contains("\"user_id\":\"pia\"", await CallWhoAmIAsync(token));

        using var proven = new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/revoke") { Content = form() };
        proven.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(EnterpriseFixture.BasicClientId + ":" + fixture.Secrets[EnterpriseFixture.BasicClientId])));
        Assert.Equal(HttpStatusCode.OK, (await fixture.App.Client.SendAsync(proven)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(token)).StatusCode);
    }

    [Fact]
    public async Task EveryIdJag_ReusesThePersonsOneConnectionOfTheClient()
    {
        var first = await fixture.GrantAsync(await fixture.IdJagAsync("olga"));
        var second = await fixture.GrantAsync(await fixture.IdJagAsync("olga", "neotoma:read"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("neotoma:read", (await JsonOf(second)).GetProperty("scope").GetString());
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'olga' AND origin = 'enterprise'"));
        Assert.Equal(fixture.IdpIssuer, await fixture.Database.AdminScalarAsync<string>(
            "SELECT idp_issuer FROM mcp_oauth_connections WHERE user_id = 'olga'"));
    }

    [Fact]
    public async Task ClientSecretPost_IsAcceptedForAClientRegisteredWithIt()
    {
        var response = await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("pia", EnterpriseFixture.PostClientId)), EnterpriseFixture.PostClientId);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task ScopeOfTheRequest_IsIntersectedWithTheIdJags()
    {
        var claims = fixture.GoodClaims("quinn");
        claims["scope"] = "neotoma:read";

        var response = await fixture.GrantAsync(await fixture.MintAsync(claims), scope: "neotoma:read neotoma:write");

        Assert.Equal("neotoma:read", (await JsonOf(response)).GetProperty("scope").GetString());
    }

    [Fact]
    public async Task OfficialTypeScriptClient_CrossAppAccessProvider_CallsAToolWithNoBrowserAfterTheIdPSignIn()
    {
        // The only browser step: the person signs in at the IdP in the MCP client's own sign-in.
        var idToken = await fixture.IdTokenAsync("ted");

        var run = await TypeScriptClient.RunAsync("enterprise.mjs", fixture.Resource,
            (_, uri) => throw new InvalidOperationException("The enterprise flow asked for a browser: " + uri),
            new Dictionary<string, string>
            {
                ["IDP_URL"] = fixture.IdpIssuer,
                ["ID_TOKEN"] = idToken,
                ["IDP_CLIENT_ID"] = EnterpriseFixture.IdpClientId,
                ["IDP_CLIENT_SECRET"] = EnterpriseFixture.IdpClientSecret,
                ["CLIENT_ID"] = EnterpriseFixture.BasicClientId,
                ["CLIENT_SECRET"] = fixture.Secrets[EnterpriseFixture.BasicClientId],
            });

        Assert.Empty(run.Authorizations);
        using var result = JsonDocument.Parse(run.Output["RESULT"]);
        Assert.Contains("\"user_id\":\"ted\"", result.RootElement.GetProperty("content")[0].GetProperty("text").GetString());
        using var tokens = JsonDocument.Parse(run.Output["RESULT_TOKENS"]);
        Assert.False(tokens.RootElement.GetProperty("hasRefreshToken").GetBoolean());
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'enterprise_access_granted' AND user_id = 'ted' AND client_id = @c",
            ("c", EnterpriseFixture.BasicClientId)));
    }

    // ---- Refusals, each with its code ----------------------------------------------------------------------

    [Fact]
    public async Task WrongAudience_IsRefused()
    {
        var claims = fixture.GoodClaims("rob");
        claims["aud"] = "https://other-as.example";
        // Ours beside another server's: that server could replay it here.
        var shared = fixture.GoodClaims("rob");
        shared["aud"] = new[] { fixture.Issuer, "https://other-as.example" };

        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(claims)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_WRONG_AUDIENCE");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(shared)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_WRONG_AUDIENCE");
    }

    [Fact]
    public async Task WrongType_IsRefused_AnIdTokenIsNoIdJag()
    {
        var idToken = await fixture.IdTokenAsync("sam");

        await AssertRefusedAsync(await fixture.GrantAsync(idToken), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_WRONG_TYPE");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("sam"), new Dictionary<string, object> { ["typ"] = "JWT" })),
            HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_WRONG_TYPE");
    }

    [Fact]
    public async Task UntrustedIssuer_IsRefused_AndAnIdPNotTrustedForTheClient()
    {
        var claims = fixture.GoodClaims("tess");
        claims["iss"] = "https://idp.untrusted.example";

        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(claims)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_UNTRUSTED_ISSUER");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("tess", EnterpriseFixture.UntrustedClientId)),
            EnterpriseFixture.UntrustedClientId), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_UNTRUSTED_ISSUER");
    }

    [Fact]
    public async Task Expired_IsRefused_AndOneThatLivesTooLong()
    {
        var expired = fixture.GoodClaims("uma");
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        (expired["iat"], expired["exp"]) = (now - 400, now - 100);
        var tooLong = fixture.GoodClaims("uma");
        tooLong["exp"] = now + 3600;
        // Past the year 9999: refused like any other, never a 500.
        var farFuture = fixture.GoodClaims("uma");
        farFuture["exp"] = 99_999_999_999_999L;

        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(expired)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_EXPIRED");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(tooLong)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_EXPIRED");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(farFuture)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_EXPIRED");
    }

    [Fact]
    public async Task ReplayedJti_IsRefused_EvenUnderConcurrency()
    {
        var idJag = await fixture.MintAsync(fixture.GoodClaims("vera"));

        var responses = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => fixture.GrantAsync(idJag)));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        foreach (var refused in responses.Where(r => r.StatusCode != HttpStatusCode.OK))
        {
            await AssertRefusedAsync(refused, HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_REPLAYED");
        }
    }

    [Fact]
    public async Task ResourceOfAnotherServer_IsRefused()
    {
        var claims = fixture.GoodClaims("walt");
        claims["resource"] = "https://other.example/mcp";

        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(claims)), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_WRONG_RESOURCE");
    }

    [Fact]
    public async Task UnauthenticatedOrPublicClient_IsRefused()
    {
        var idJag = await fixture.MintAsync(fixture.GoodClaims("xena"));
        var publicClient = await fixture.RegisterAsync();

        await AssertRefusedAsync(await fixture.GrantAsync(idJag, authenticate: false), HttpStatusCode.Unauthorized, "invalid_client", "OAUTH_ENTERPRISE_CLIENT_REQUIRED");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("xena", publicClient.ClientId)), publicClient.ClientId,
            authenticate: false), HttpStatusCode.Unauthorized, "invalid_client", "OAUTH_ENTERPRISE_CLIENT_REQUIRED");
        fixture.Secrets["wrong-secret"] = "not-the-secret";
        var wrongSecret = await fixture.App.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/token")
        {
            Headers = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(EnterpriseFixture.BasicClientId + ":not-the-secret"))) },
            Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer", ["assertion"] = idJag }),
        });
        await AssertRefusedAsync(wrongSecret, HttpStatusCode.Unauthorized, "invalid_client", "OAUTH_INVALID_CLIENT");

        // RFC 6749 §2.3: one way of authenticating per request; the right secret with an assertion besides is refused too.
        var twoWays = await fixture.App.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/token")
        {
            Headers = { Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(EnterpriseFixture.BasicClientId + ":" + fixture.Secrets[EnterpriseFixture.BasicClientId]))) },
            Content = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "urn:ietf:params:oauth:grant-type:jwt-bearer", ["assertion"] = idJag,
                ["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", ["client_assertion"] = idJag,
            }),
        });
        await AssertRefusedAsync(twoWays, HttpStatusCode.Unauthorized, "invalid_client", "OAUTH_INVALID_CLIENT");
    }

    [Fact]
    public async Task ClientIdClaimOfAnotherClient_IsRefused()
    {
        var idJag = await fixture.MintAsync(fixture.GoodClaims("yara", EnterpriseFixture.OtherClientId));

        await AssertRefusedAsync(await fixture.GrantAsync(idJag), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_CLIENT_MISMATCH");
    }

    [Fact]
    public async Task ScopeOutsideTheGrant_IsRefused()
    {
        var claims = fixture.GoodClaims("zoe");
        claims["scope"] = "neotoma:read";
        var unknown = fixture.GoodClaims("zoe");
        unknown["scope"] = "admin";

        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(claims), scope: "neotoma:write"),
            HttpStatusCode.BadRequest, "invalid_scope", "OAUTH_ID_JAG_SCOPE_NOT_GRANTED");
        await AssertRefusedAsync(await fixture.GrantAsync(await fixture.MintAsync(unknown)), HttpStatusCode.BadRequest, "invalid_scope", "OAUTH_ID_JAG_SCOPE_NOT_GRANTED");
    }

    [Fact]
    public async Task ForgedSignature_IsRefused()
    {
        var idJag = await fixture.MintAsync(fixture.GoodClaims("abe"));
        var parts = idJag.Split('.');
        var forged = parts[0] + "." + parts[1] + "." + parts[2][..^4] + (parts[2].EndsWith("AAAA", StringComparison.Ordinal) ? "BBBB" : "AAAA");

        await AssertRefusedAsync(await fixture.GrantAsync(forged), HttpStatusCode.BadRequest, "invalid_grant", "OAUTH_ID_JAG_INVALID");
    }

    [Fact]
    public async Task TheGrant_IsRateLimitedPerClient()
    {
        // Counted per calendar minute: with twice the limit and one more, a 429 comes even if a minute turns meanwhile.
        HttpResponseMessage? limited = null;
        var before = 0;
        for (; before <= 2 * EnterpriseFixture.JwtBearerLimit && limited is null; before++)
        {
            var response = await fixture.GrantAsync("not-even-a-jwt", EnterpriseFixture.BurstClientId);
            limited = response.StatusCode == HttpStatusCode.TooManyRequests ? response : null;
        }

        Assert.NotNull(limited);
        Assert.True(before > EnterpriseFixture.JwtBearerLimit, $"limited after {before} requests");
        await AssertRefusedAsync(limited, HttpStatusCode.TooManyRequests, "rate_limited", "OAUTH_RATE_LIMITED");
        Assert.NotNull(limited.Headers.RetryAfter);
    }

    [Fact]
    public async Task IdPThatRotatedItsKey_IsReadAgain_OnTheUnknownKid()
    {
        Assert.Equal(HttpStatusCode.OK, (await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("cal")))).StatusCode);

        // A restarted dev provider signs with a new key (a new kid), as an IdP that rotated its keys.
        await fixture.RestartProviderAsync();
        var response = await fixture.GrantAsync(await fixture.MintAsync(fixture.GoodClaims("cal")));

        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        Assert.True(fixture.Logs.Lines.Count(l => l.Contains("Read enterprise IdP " + fixture.IdpIssuer, StringComparison.Ordinal)) >= 2);
    }

    [Fact]
    public async Task Refusals_AreAuditLinesWithTheirCode()
    {
        var claims = fixture.GoodClaims("bea");
        claims["aud"] = "https://elsewhere.example";

        await fixture.GrantAsync(await fixture.MintAsync(claims));

        Assert.True(await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'enterprise_access_refused' AND NOT success AND error_code = 'OAUTH_ID_JAG_WRONG_AUDIENCE'") >= 1);
    }
}
