using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// The token endpoint: RFC 6749 §4.1.3 and §5.2, RFC 7636 (PKCE), OAuth 2.1 refresh-token
/// rotation, RFC 7009 revocation; guide scenarios 4 (OAUTH_TOKEN_REFRESH_FAILED) and 5 (OAUTH_CONNECTION_NOT_FOUND).
/// </summary>
public sealed class TokenEndpointTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private Dictionary<string, string> CodeForm(OAuthFixture.RegisteredClient client, string code, string verifier) => new()
    {
        ["grant_type"] = "authorization_code",
        ["code"] = code,
        ["client_id"] = client.ClientId,
        ["redirect_uri"] = client.RedirectUri.ToString(),
        ["code_verifier"] = verifier,
    };

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(Dictionary<string, string> form)
    {
        var response = await fixture.TokenRequestAsync(form);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private static void AssertError(HttpStatusCode status, JsonElement body, string error, string code)
    {
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(error, body.GetProperty("error").GetString());
        Assert.Equal(code, body.GetProperty("error_code").GetString());
    }

    private async Task<HttpStatusCode> CallMcpAsync(string accessToken) => (await fixture.SendMcpAsync(accessToken)).StatusCode;

    [Fact]
    public async Task Code_WithVerifierThatDoesNotMatchChallenge_IsRejected()
    {
        var (client, code, _) = await fixture.AuthorizeAsync("liam");

        var (status, body) = await PostAsync(CodeForm(client, code, OAuthFixture.NewPkce().Verifier));

        AssertError(status, body, "invalid_grant", "OAUTH_PKCE_FAILED");
    }

    [Fact]
    public async Task Code_AfterAFailedPkceAttempt_IsSpent_EvenWithTheRightVerifier()
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("pkce-once");
        var (wrongStatus, wrongBody) = await PostAsync(CodeForm(client, code, OAuthFixture.NewPkce().Verifier));
        AssertError(wrongStatus, wrongBody, "invalid_grant", "OAUTH_PKCE_FAILED");

        var (status, body) = await PostAsync(CodeForm(client, code, verifier));

        AssertError(status, body, "invalid_grant", "OAUTH_INVALID_GRANT");
    }

    [Fact]
    public async Task Code_Issued_TokensAreOpaqueAndBoundToTheResource()
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("mia");

        var (status, body) = await PostAsync(CodeForm(client, code, verifier));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Bearer", body.GetProperty("token_type").GetString());
        Assert.Equal(3600, body.GetProperty("expires_in").GetInt32());
        var access = body.GetProperty("access_token").GetString()!;
        Assert.True(access.Length >= 43);
        Assert.DoesNotContain('.', access); // not a JWT, and not the upstream's token
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_tokens WHERE token_hash = @t", ("t", access)));
        Assert.Equal(fixture.Resource, await fixture.Database.AdminScalarAsync<string>(
            "SELECT resource FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(access))));
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(access));
    }

    [Fact]
    public async Task Code_Replayed_IsRejectedAndRevokesTheTokensIssuedFromIt()
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("noah");
        var (_, first) = await PostAsync(CodeForm(client, code, verifier));
        var access = first.GetProperty("access_token").GetString()!;
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(access));

        var (status, body) = await PostAsync(CodeForm(client, code, verifier));

        AssertError(status, body, "invalid_grant", "OAUTH_INVALID_GRANT");
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(access));
    }

    [Fact]
    public async Task Code_RedeemedByTwentyRequestsAtOnce_SucceedsExactlyOnce()
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("olivia");

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => fixture.TokenRequestAsync(CodeForm(client, code, verifier))));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.Equal(19, responses.Count(r => r.StatusCode == HttpStatusCode.BadRequest));
    }

    [Theory]
    [InlineData("client_id", "mcp_someone_else", "invalid_grant")]
    [InlineData("redirect_uri", "http://127.0.0.1:8787/other", "invalid_grant")]
    [InlineData("resource", "https://other.example/mcp", "invalid_target")]
    public async Task Code_WithMismatchedParameter_IsRejected(string parameter, string value, string error)
    {
        var (client, code, verifier) = await fixture.AuthorizeAsync("paul");
        var form = CodeForm(client, code, verifier);
        form[parameter] = value;

        var (status, body) = await PostAsync(form);

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(error, body.GetProperty("error").GetString());
    }

    [Fact]
    public async Task UnsupportedGrantType_IsRejected()
    {
        var (status, body) = await PostAsync(new Dictionary<string, string> { ["grant_type"] = "password", ["username"] = "u" });

        AssertError(status, body, "unsupported_grant_type", "OAUTH_UNSUPPORTED_GRANT_TYPE");
    }

    [Fact]
    public async Task Refresh_Rotates_AndTheOldTokenWorksOnceWithinTheGraceWindow_ThenRevokesTheFamily()
    {
        var (tokens, client) = await fixture.SignInAsync("quinn");
        var (status1, second) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));
        Assert.Equal(HttpStatusCode.OK, status1);

        // The client lost that response and retries with the old token: allowed once.
        var (status2, retry) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));
        Assert.Equal(HttpStatusCode.OK, status2);
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(retry.GetProperty("access_token").GetString()!));

        // A third use is theft: the whole family goes.
        var (status3, body3) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));
        AssertError(status3, body3, "invalid_grant", "OAUTH_INVALID_GRANT");
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(retry.GetProperty("access_token").GetString()!));
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(second.GetProperty("access_token").GetString()!));
    }

    [Fact]
    public async Task Refresh_ReusedAfterTheGraceWindow_RevokesTheFamily()
    {
        var (tokens, client) = await fixture.SignInAsync("rosa");
        var (_, next) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET used_at = now() - interval '5 minutes' WHERE token_hash = @h",
            ("h", OpaqueToken.Hash(tokens.RefreshToken)));

        var (status, body) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        AssertError(status, body, "invalid_grant", "OAUTH_INVALID_GRANT");
        var (nextStatus, _) = await PostAsync(OAuthFixture.RefreshForm(client, next.GetProperty("refresh_token").GetString()!));
        Assert.Equal(HttpStatusCode.BadRequest, nextStatus);
    }

    [Fact]
    public async Task Refresh_WhenUpstreamTokenIsAboutToExpire_RefreshesUpstreamAndReencrypts()
    {
        var (tokens, client) = await fixture.SignInAsync("sam");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var before = await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() + interval '2 minutes' WHERE connection_id = @c", ("c", connection));

        var (status, _) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        Assert.Equal(HttpStatusCode.OK, status);
        var after = await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));
        Assert.NotEqual(before, after);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT upstream_access_token_expires_at > now() + interval '50 minutes' FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
    }

    [Fact]
    public async Task Refresh_WhenUpstreamTokenIsFresh_MakesNoUpstreamCall()
    {
        var (tokens, client) = await fixture.SignInAsync("tina");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var before = await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));

        var (status, _) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(before, await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
    }

    public static TheoryData<string, string> UnreadableCiphertexts => new()
    {
        { "tampered", "flip" },
        { "truncated", "truncate" },
        { "wrong key", "other-key" },
        { "upstream refuses", "garbage-token" },
    };

    [Theory]
    [MemberData(nameof(UnreadableCiphertexts))]
    public async Task Refresh_WithUnusableUpstreamToken_IsACleanRefusal_AndRevokesOnlyThatConnection(string _, string damage)
    {
        var (bystander, _) = await fixture.SignInAsync("uma-bystander");
        var (tokens, client) = await fixture.SignInAsync("uma");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var stored = (await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)))!;
        var damaged = damage switch
        {
            "flip" => stored[..^1] + (stored[^1] == '0' ? '1' : '0'),
            "truncate" => stored[..(stored.Length / 2)],
            "other-key" => new TokenCipher(new string('f', 64), "test").Encrypt("some-refresh-token"),
            _ => new TokenCipher(SelfHostServer.TestEncryptionKey, "test").Encrypt("not-a-token-the-provider-knows"),
        };
        await fixture.Database.AdminExecuteAsync("""
            UPDATE mcp_oauth_connections SET refresh_token = @r, upstream_access_token_expires_at = now() WHERE connection_id = @c
            """, ("r", damaged), ("c", connection));
        var othersBefore = await SnapshotOthersAsync(connection);

        var (status, body) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        AssertError(status, body, "invalid_grant", "OAUTH_TOKEN_REFRESH_FAILED");
        Assert.True(await fixture.Database.AdminScalarAsync<bool>("SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        Assert.Equal(othersBefore, await SnapshotOthersAsync(connection));
        Assert.Equal(HttpStatusCode.OK, await CallMcpAsync(bystander.AccessToken));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE connection_id = @c AND event = 'token_refresh_failed' AND error_code = 'OAUTH_TOKEN_REFRESH_FAILED'", ("c", connection)));
    }

    [Fact]
    public async Task Refresh_OfARevokedConnection_IsConnectionNotFound()
    {
        var (tokens, client) = await fixture.SignInAsync("vera");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_connections SET revoked_at = now() WHERE connection_id = @c", ("c", connection));

        var (status, body) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        AssertError(status, body, "invalid_grant", "OAUTH_CONNECTION_NOT_FOUND");
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(tokens.AccessToken));
    }

    [Fact]
    public async Task Refresh_OfADeletedConnection_IsConnectionNotFound()
    {
        var (tokens, client) = await fixture.SignInAsync("walt");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        await fixture.Database.AdminExecuteAsync("DELETE FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));

        var (status, body) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        AssertError(status, body, "invalid_grant", "OAUTH_CONNECTION_NOT_FOUND");
    }

    [Fact]
    public async Task Revoke_RefreshToken_RevokesItsWholeFamilyAtOnce()
    {
        var (tokens, client) = await fixture.SignInAsync("xena");

        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = tokens.RefreshToken,
            ["token_type_hint"] = "refresh_token",
            ["client_id"] = client.ClientId,
        }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await CallMcpAsync(tokens.AccessToken));
        var (status, _) = await PostAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));
        Assert.Equal(HttpStatusCode.BadRequest, status);
    }

    [Fact]
    public async Task Revoke_UnknownToken_AnswersOkAsRfc7009Requires()
    {
        var response = await fixture.Server.Client.PostAsync("/api/mcp/oauth/revoke",
            new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = "never-issued" }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private Task<string?> SnapshotOthersAsync(string? connection) =>
        fixture.Database.AdminScalarAsync<string>("""
            SELECT string_agg(connection_id || coalesce(refresh_token, '') || coalesce(revoked_at::text, ''), ',' ORDER BY connection_id)
            FROM mcp_oauth_connections WHERE connection_id <> @c
            """, ("c", connection!));
}
