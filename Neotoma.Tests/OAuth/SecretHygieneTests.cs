using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>No token, code, verifier, secret or key ever appears in a log line, the audit table, a URL or an error body.</summary>
public sealed class SecretHygieneTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    [Fact]
    public async Task AFullFlowWithFailures_LeavesNoSecretInLogsAuditRowsOrErrorBodies()
    {
        var client = await fixture.RegisterAsync();
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, "yara");
        var code = QueryHelpers.ParseQuery(landing.Query)["code"].ToString();
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code", ["code"] = code, ["client_id"] = client.ClientId,
            ["redirect_uri"] = client.RedirectUri.ToString(), ["code_verifier"] = verifier,
        };
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(form));
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken, ["client_id"] = client.ClientId,
        }));
        var connection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken)));
        var upstreamRefresh = new TokenCipher(SelfHostServer.TestEncryptionKey, "k").TryDecrypt(
            (await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)))!);
        // Then the failures: a replayed code (which revokes the sign-in) and a wrong verifier.
        var replay = await (await fixture.TokenRequestAsync(form)).Content.ReadAsStringAsync();
        var wrongVerifier = await (await fixture.TokenRequestAsync(new Dictionary<string, string>(form) { ["code_verifier"] = new string('v', 43) }))
            .Content.ReadAsStringAsync();
        var audit = await fixture.Database.AdminScalarAsync<string>("SELECT string_agg(row_to_json(a)::text, '\n') FROM mcp_oauth_audit a");

        var secrets = new[]
        {
            code, verifier, tokens.AccessToken, tokens.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken,
            upstreamRefresh!, SelfHostServer.TestEncryptionKey, DevIdentityProvider.ClientSecret,
        };
        var logs = string.Join("\n", fixture.Logs.Lines);
        Assert.Contains("[MCP OAuth] Connection created:", logs);
        Assert.Contains("[MCP OAuth Audit] oauth_callback_success", logs);
        foreach (var secret in secrets)
        {
            Assert.DoesNotContain(secret, logs);
            Assert.DoesNotContain(secret, audit);
            Assert.DoesNotContain(secret, replay);
            Assert.DoesNotContain(secret, wrongVerifier);
            Assert.DoesNotContain(secret, string.Join("\n", browser.Visited.Where(v => !v.StartsWith(client.RedirectUri.ToString()))));
        }
    }

    [Fact]
    public async Task UpstreamTokensNeverReachTheClient()
    {
        var (tokens, _) = await fixture.SignInAsync("zoe");
        var connection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken)));
        var cipher = new TokenCipher(SelfHostServer.TestEncryptionKey, "k");
        var upstreamAccess = cipher.TryDecrypt((await fixture.Database.AdminScalarAsync<string>(
            "SELECT upstream_access_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)))!);

        Assert.NotNull(upstreamAccess);
        Assert.NotEqual(upstreamAccess, tokens.AccessToken);
        Assert.NotEqual(HttpStatusCode.OK, (await fixture.Server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Headers = { Authorization = new("Bearer", upstreamAccess) },
            Content = new StringContent("{}"),
        })).StatusCode);
    }
}
