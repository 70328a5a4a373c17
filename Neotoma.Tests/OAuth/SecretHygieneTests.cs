using System.Net;
using Microsoft.AspNetCore.WebUtilities;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

public sealed class TraceLoggingOAuthFixture : OAuthFixture
{
    /// <summary>Every category at Trace, the URL-writing ones asked for by name: what an operator debugging a sign-in would set.</summary>
    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings["Logging:LogLevel:Default"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace";
        settings["Logging:LogLevel:Microsoft.AspNetCore.Mvc.Infrastructure"] = "Trace";
        // The console stays readable; the collector sees everything.
        settings["Logging:Console:LogLevel:Default"] = "Warning";
    }
}

/// <summary>
/// No token, code, state, nonce, verifier, secret or key ever appears in a log line (at any level:
/// the app logs at Trace here), the audit table, a URL or an error body.
/// </summary>
public sealed class SecretHygieneTests(TraceLoggingOAuthFixture fixture) : IClassFixture<TraceLoggingOAuthFixture>
{
    [Fact]
    public async Task SignInsRefreshesAndFailures_AtTraceLevel_LeaveNoSecretInLogsAuditRowsOrErrorBodies()
    {
        var secrets = new List<string> { SelfHostServer.TestEncryptionKey, DevIdentityProvider.ClientSecret };
        var client = await fixture.RegisterAsync();
        var (verifier, challenge) = OAuthFixture.NewPkce();
        using var browser = new BrowserAgent();
        var landing = await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, "yara");
        var code = QueryHelpers.ParseQuery(landing.Query)["code"].ToString();
        secrets.AddRange([code, verifier]);
        secrets.AddRange(UpstreamSecretsIn(browser.Visited));
        var form = OAuthFixture.CodeRedemption(client, code, verifier);
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(form));
        var connection = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_tokens WHERE token_hash = @h", ("h", OpaqueToken.Hash(tokens.AccessToken)));
        secrets.AddRange(await UpstreamTokensAsync(connection!));

        // A refresh that also refreshes upstream, so the provider's new tokens pass through the app.
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() WHERE connection_id = @c", ("c", connection));
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken, ["client_id"] = client.ClientId,
        }));
        secrets.AddRange([tokens.AccessToken, tokens.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken]);
        secrets.AddRange(await UpstreamTokensAsync(connection!));
        Assert.Equal(System.Net.HttpStatusCode.OK, (await fixture.SendMcpAsync(refreshed.AccessToken)).StatusCode);

        // A connection without an MCP client (the guide's JSON initiate): its upstream verifier and nonce, read from its state row.
        var initiated = await fixture.Server.Client.PostAsync("/api/mcp/oauth/initiate",
            new StringContent("{\"client_name\":\"hygiene\"}", System.Text.Encoding.UTF8, "application/json"));
        var authUrl = new Uri(System.Text.Json.JsonDocument.Parse(await initiated.Content.ReadAsStringAsync()).RootElement.GetProperty("authUrl").GetString()!);
        var upstreamState = QueryHelpers.ParseQuery(authUrl.Query)["state"].ToString();
        secrets.Add((await fixture.Database.AdminScalarAsync<string>(
            "SELECT upstream_code_verifier FROM mcp_oauth_state WHERE state = @s", ("s", upstreamState)))!);
        using var person = new BrowserAgent();
        var callback = await person.SignInAsync(authUrl, new Uri(fixture.Issuer + "/api/mcp/oauth/callback"), "yara-json");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await person.GetAsync(callback)).StatusCode);
        secrets.AddRange(UpstreamSecretsIn(person.Visited));

        // Then the failures: a wrong verifier, a replayed code (which revokes the sign-in), a reused refresh token.
        var wrongVerifier = await (await fixture.TokenRequestAsync(new Dictionary<string, string>(form) { ["code_verifier"] = new string('v', 43) }))
            .Content.ReadAsStringAsync();
        var replay = await (await fixture.TokenRequestAsync(form)).Content.ReadAsStringAsync();
        var reuse = await (await fixture.TokenRequestAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = refreshed.RefreshToken, ["client_id"] = client.ClientId,
        })).Content.ReadAsStringAsync();
        var audit = await fixture.Database.AdminScalarAsync<string>("SELECT string_agg(row_to_json(a)::text, '\n') FROM mcp_oauth_audit a");

        var logs = string.Join("\n", fixture.Logs.Lines);
        Assert.Contains("[MCP OAuth] Connection created:", logs);
        Assert.Contains("[MCP OAuth Audit] oauth_callback_success", logs);
        // The app did log at Trace and Debug: the scan below covers them.
        Assert.Contains(fixture.Logs.Lines, line => line.StartsWith("Trace ") || line.StartsWith("Debug "));
        Assert.True(secrets.Count >= 16, $"only {secrets.Count} secrets were collected");
        foreach (var secret in secrets.Distinct())
        {
            Assert.True(secret.Length >= 16, "a secret too short to search for");
            Assert.DoesNotContain(secret, logs);
            Assert.DoesNotContain(secret, audit);
            Assert.DoesNotContain(secret, replay);
            Assert.DoesNotContain(secret, wrongVerifier);
            Assert.DoesNotContain(secret, reuse);
        }

        foreach (var secret in new[] { tokens.AccessToken, tokens.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken, verifier })
        {
            Assert.DoesNotContain(secret, string.Join("\n", browser.Visited.Concat(person.Visited)));
        }
    }

    /// <summary>The upstream provider's state, nonce and code, as they travel in the browser's URLs.</summary>
    private IEnumerable<string> UpstreamSecretsIn(IEnumerable<string> visited)
    {
        var provider = fixture.Provider.Issuer.ToString().TrimEnd('/') + "/auth?";
        var callback = fixture.Issuer + "/api/mcp/oauth/callback?";
        foreach (var url in visited.Select(v => v.Split(' ')[^1]))
        {
            var query = QueryHelpers.ParseQuery(url.Contains('?') ? url[url.IndexOf('?')..] : "");
            if (url.StartsWith(provider, StringComparison.Ordinal))
            {
                yield return query["state"].ToString();
                yield return query["nonce"].ToString();
            }
            else if (url.StartsWith(callback, StringComparison.Ordinal))
            {
                yield return query["code"].ToString();
            }
        }
    }

    /// <summary>The upstream access and refresh tokens Neotoma keeps for a connection, decrypted.</summary>
    private async Task<string[]> UpstreamTokensAsync(string connection)
    {
        var cipher = new TokenCipher(SelfHostServer.TestEncryptionKey, "k");
        var refresh = await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));
        var access = await fixture.Database.AdminScalarAsync<string>("SELECT upstream_access_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection));
        return [cipher.TryDecrypt(refresh!)!, cipher.TryDecrypt(access!)!];
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
