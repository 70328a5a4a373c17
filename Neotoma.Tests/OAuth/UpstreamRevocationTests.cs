using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Web;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// One owner of revocation, upstream included: whichever path ends a person's last connection, the
/// provider's refresh token it held is revoked at the provider (asked through RFC 7662 introspection,
/// which the dev provider answers without spending the token); one the person's other connections may
/// share a grant with is kept there (revoking it would end them); and a revocation the provider could
/// not take is kept and sent when it answers again.
/// </summary>
public sealed class UpstreamRevocationTests(OAuthFixture fixture, ITestOutputHelper output) : IClassFixture<OAuthFixture>
{
    public static TheoryData<string, string> Paths => new()
    {
        { "upstream-client-revokes", "the client revokes its refresh token" },
        { "upstream-reuse", "a rotated refresh token is presented again" },
        { "upstream-replay", "the authorization code is presented twice" },
        { "upstream-person-revokes", "the person revokes it on the connections page" },
        { "upstream-revoke-all", "the person revokes everything" },
    };

    [Theory]
    [MemberData(nameof(Paths))]
    public async Task EveryPathThatEndsAConnection_RevokesItsUpstreamTokenAtTheProvider(string login, string path)
    {
        var (bystanderTokens, _) = await fixture.SignInAsync(login + "-bystander");
        var bystanderUpstream = await UpstreamRefreshTokenAsync(await fixture.ConnectionOfAsync(bystanderTokens.AccessToken));
        var (client, code, verifier) = await fixture.AuthorizeAsync(login);
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, code, verifier)));
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var upstream = await UpstreamRefreshTokenAsync(connection);
        Assert.True(await fixture.Provider.IsActiveAsync(upstream), "the provider does not honour the upstream token before the revocation");

        var clock = Stopwatch.StartNew();
        await EndConnectionAsync(path, login, client, code, verifier, tokens, connection);

        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT revoked_at IS NOT NULL AND refresh_token IS NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        while (await fixture.Provider.IsActiveAsync(upstream))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the provider still honours the upstream token after '{path}'");
            await Task.Delay(20);
        }

        output.WriteLine($"{path}: revoked at the provider {clock.ElapsedMilliseconds} ms after the request");
        Assert.True(await fixture.Provider.IsActiveAsync(bystanderUpstream), "another person's upstream token was revoked too");
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(bystanderTokens.AccessToken)).StatusCode);
        // Sent, then taken off the queue.
        while (!fixture.Logs.Lines.Any(line => line.Contains($"Revoked the upstream refresh token of connection: {connection}"))
            || await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_upstream_revocations WHERE held_by = @c", ("c", "connection: " + connection)) > 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the sent revocation stayed queued");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task ProviderUnavailable_TheRevocationIsKept_AndSentWhenItAnswers()
    {
        var (tokens, client) = await fixture.SignInAsync("upstream-outage");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var upstream = await UpstreamRefreshTokenAsync(connection);
        var retrying = $"The provider did not answer the revocation of the upstream token of connection: {connection} (attempt 1); trying again in 1 min";

        await fixture.Provider.SetQuirksAsync(revocationOutage: true);
        try
        {
            await fixture.RevokeAsync(tokens.RefreshToken, client.ClientId);
            Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
            var clock = Stopwatch.StartNew();
            while (!fixture.Logs.Lines.Any(line => line.Contains(retrying)))
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the provider's 503 was not answered with a retry");
                await Task.Delay(20);
            }
        }
        finally
        {
            await fixture.Provider.SetQuirksAsync();
        }

        Assert.True(await fixture.Provider.IsActiveAsync(upstream), "the test provider revoked the token although it answered 503");
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT attempts = 1 AND next_attempt_at > now() + interval '30 seconds' FROM mcp_oauth_upstream_revocations WHERE held_by = @c",
            ("c", "connection: " + connection)));

        // The retry is due (as it is after its pause, or when the 5-minute timer finds it).
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_upstream_revocations SET next_attempt_at = now() WHERE held_by = @c", ("c", "connection: " + connection));
        // Sent by this call, or by the app's own sender if a wake-up (another revocation's) finds it due
        // first; the claim lets only one of them send it.
        await fixture.Server.Services.GetRequiredService<UpstreamRevocations>().SendDueAsync(CancellationToken.None);

        var retried = Stopwatch.StartNew();
        while (await fixture.Provider.IsActiveAsync(upstream) || await fixture.Database.AdminScalarAsync<long>(
                   "SELECT count(*) FROM mcp_oauth_upstream_revocations WHERE held_by = @c", ("c", "connection: " + connection)) > 0)
        {
            Assert.True(retried.Elapsed < TimeSpan.FromSeconds(10), "the due retry did not revoke the token at the provider, or left its row queued");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task ProviderRefusedTheSignIn_NothingIsQueuedToRevokeThere()
    {
        var (tokens, client) = await fixture.SignInAsync("upstream-refused");
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var upstream = await UpstreamRefreshTokenAsync(connection);
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() WHERE connection_id = @c", ("c", connection));
        await RevokeAtProviderAsync(upstream);

        var response = await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("OAUTH_TOKEN_REFRESH_FAILED", await response.Content.ReadAsStringAsync());
        Assert.True(await fixture.Database.AdminScalarAsync<bool>("SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)));
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_upstream_revocations WHERE held_by = @c", ("c", "connection: " + connection)));
    }

    /// <summary>
    /// The regression an attacker's review found: in one browser the provider gives every sign-in one
    /// grant, so revoking one connection's provider token there would end the person's others. Revoke of
    /// one connection keeps its token at the provider while another connection of the person holds one.
    /// </summary>
    [Fact]
    public async Task RevokingOneOfTwoConnectionsMadeInOneBrowser_KeepsTheOtherWorking_AtTheProviderToo()
    {
        const string login = "upstream-one-browser";
        using var browser = new BrowserAgent();
        var first = await ConnectInAsync(browser, login, "First in this browser");
        var second = await ConnectInAsync(browser, login, "Second in this browser");
        var firstConnection = await fixture.ConnectionOfAsync(first.Tokens.AccessToken);
        var secondConnection = await fixture.ConnectionOfAsync(second.Tokens.AccessToken);
        var secondUpstream = await UpstreamRefreshTokenAsync(secondConnection);

        Assert.True(await fixture.Server.Services.GetRequiredService<ConnectionsService>().RevokeAsync(login, firstConnection, null, CancellationToken.None));
        await Task.Delay(500);

        Assert.Contains(fixture.Logs.Lines, line => line.Contains($"Kept the upstream token of connection: {firstConnection} at the provider"));
        Assert.True(await fixture.Provider.IsActiveAsync(secondUpstream), "revoking the first connection ended the second one's grant at the provider");
        // The second connection's next refresh renews its upstream token: the provider still honours it.
        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() WHERE connection_id = @c", ("c", secondConnection));
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(second.Client, second.Tokens.RefreshToken)));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(refreshed.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(first.Tokens.AccessToken)).StatusCode);
    }

    [Fact]
    public async Task ReauthorizingAClient_ReplacesItsConnectionWhenRedeemed_AndKeepsTheOldTokenAtTheProvider()
    {
        const string login = "upstream-reauthorized";
        var (client, code, verifier) = await fixture.AuthorizeAsync(login);
        var tokens = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, code, verifier)));
        var connection = await fixture.ConnectionOfAsync(tokens.AccessToken);
        var upstream = await UpstreamRefreshTokenAsync(connection);

        var (_, newCode, newVerifier) = await fixture.AuthorizeAsync(login, client);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        var renewed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, newCode, newVerifier)));

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(renewed.AccessToken)).StatusCode);
        Assert.Contains(fixture.Logs.Lines, line => line.Contains($"Revoked connection: {connection} (Replaced)"));
        Assert.Contains(fixture.Logs.Lines, line => line.Contains($"Kept the upstream token of connection: {connection} at the provider"));
        Assert.True(await fixture.Provider.IsActiveAsync(upstream));
    }

    [Fact]
    public async Task AnAuthorizationNobodyRedeems_KeepsTheEarlierConnection_AndIsRevokedAsAbandoned()
    {
        var (client, firstCode, firstVerifier) = await fixture.AuthorizeAsync("upstream-abandoned");
        var first = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, firstCode, firstVerifier)));
        var (_, unredeemed, _) = await fixture.AuthorizeAsync("upstream-abandoned", client);
        var pending = await fixture.Database.AdminScalarAsync<string>(
            "SELECT connection_id FROM mcp_oauth_codes WHERE code_hash = @h", ("h", OpaqueToken.Hash(unredeemed)));

        // The new code is not redeemed: the connection the client uses now stays, and the page shows only it.
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(first.AccessToken)).StatusCode);
        var page = await fixture.Server.Services.GetRequiredService<ConnectionsService>().ListAsync("upstream-abandoned", CancellationToken.None);
        Assert.Equal([await fixture.ConnectionOfAsync(first.AccessToken)], page.Select(c => c.ConnectionId));

        await fixture.Database.AdminExecuteAsync(
            "UPDATE mcp_oauth_connections SET created_at = now() - interval '2 hours' WHERE connection_id = @c", ("c", pending!));
        var abandoned = await fixture.Server.Services.GetRequiredService<TokenRevocation>().RevokeAbandonedAsync(CancellationToken.None);

        Assert.True(abandoned >= 1);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>("SELECT revoked_at IS NOT NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", pending!)));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(first.AccessToken)).StatusCode);
        // The person's live connection may share the abandoned sign-in's grant at the provider: kept there.
        Assert.Contains(fixture.Logs.Lines, line => line.Contains($"Kept the upstream token of connection: {pending} at the provider"));
        Assert.True(await fixture.Provider.IsActiveAsync(await UpstreamRefreshTokenAsync(await fixture.ConnectionOfAsync(first.AccessToken))));
    }

    [Fact]
    public async Task TwoCodesOfOneClientRedeemedAtOnce_LeaveExactlyOneLiveConnection_AndNo5xx()
    {
        var (client, firstCode, firstVerifier) = await fixture.AuthorizeAsync("upstream-race");
        var (_, secondCode, secondVerifier) = await fixture.AuthorizeAsync("upstream-race", client);

        var responses = await Task.WhenAll(
            fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, firstCode, firstVerifier)),
            fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, secondCode, secondVerifier)));

        Assert.All(responses, response => Assert.Equal(HttpStatusCode.OK, response.StatusCode));
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_connections WHERE user_id = 'upstream-race' AND revoked_at IS NULL"));
        var tokens = await Task.WhenAll(responses.Select(OAuthFixture.ReadTokensAsync));
        var statuses = await Task.WhenAll(tokens.Select(async t => (await fixture.SendMcpAsync(t.AccessToken)).StatusCode));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Unauthorized], statuses.Order());
    }

    private async Task EndConnectionAsync(
        string path, string login, OAuthFixture.RegisteredClient client, string code, string verifier, OAuthFixture.Tokens tokens, string connection)
    {
        switch (path)
        {
            case "the client revokes its refresh token":
                await fixture.RevokeAsync(tokens.RefreshToken, client.ClientId);
                break;
            case "a rotated refresh token is presented again":
                Assert.Equal(HttpStatusCode.OK, (await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken))).StatusCode);
                await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET used_at = now() - interval '1 hour' WHERE token_hash = @h",
                    ("h", OpaqueToken.Hash(tokens.RefreshToken)));
                Assert.Equal(HttpStatusCode.BadRequest, (await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(client, tokens.RefreshToken))).StatusCode);
                break;
            case "the authorization code is presented twice":
                Assert.Equal(HttpStatusCode.BadRequest, (await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, code, verifier))).StatusCode);
                break;
            case "the person revokes it on the connections page":
                Assert.True(await fixture.Server.Services.GetRequiredService<ConnectionsService>().RevokeAsync(login, connection, null, CancellationToken.None));
                break;
            case "the person revokes everything":
                Assert.Equal(1, await fixture.Server.Services.GetRequiredService<ConnectionsService>().RevokeAllAsync(login, null, CancellationToken.None));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(path), path, null);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode);
    }

    /// <summary>Connects a new client in this browser (consent, then the provider, whose session this browser keeps).</summary>
    private async Task<(OAuthFixture.RegisteredClient Client, OAuthFixture.Tokens Tokens)> ConnectInAsync(BrowserAgent browser, string login, string clientName)
    {
        var client = await fixture.RegisterAsync(name: clientName);
        var (verifier, challenge) = OAuthFixture.NewPkce();
        var landing = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(
            (await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, login)).Query);
        return (client, await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier))));
    }

    /// <summary>What the provider is asked when a person's account is disabled there: the sign-in ends at the provider first.</summary>
    private async Task RevokeAtProviderAsync(string upstreamRefreshToken)
    {
        await fixture.Provider.RevokeAsync(upstreamRefreshToken);
        Assert.False(await fixture.Provider.IsActiveAsync(upstreamRefreshToken));
    }

    private async Task<string> UpstreamRefreshTokenAsync(string connection) =>
        OAuthFixture.DecryptStored((await fixture.Database.AdminScalarAsync<string>(
            "SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", connection)))!);
}
