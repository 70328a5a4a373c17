using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Web;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// Access the provider is asked about again: a sign-in on the connections page keeps the provider's
/// refresh token and is re-checked with it on the connections' schedule; the web sessions, personal
/// tokens and remembered-approval connections it made end when the provider says no; a sign-in with
/// no refresh token bounds them by the web session's absolute lifetime; one nothing uses ends and its
/// provider token is revoked there.
/// </summary>
public sealed partial class BrowserSignInTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private BrowserSignIns SignIns => fixture.Server.Services.GetRequiredService<BrowserSignIns>();

    [Fact]
    public async Task PageSignIn_KeepsTheProvidersRefreshToken_Encrypted()
    {
        using var browser = await SignInOnThePageAsync("bound-keeps");

        var stored = await fixture.Database.AdminScalarAsync<string>(
            "SELECT refresh_token FROM mcp_oauth_browser_sign_ins WHERE user_id = 'bound-keeps' AND ended_at IS NULL AND expires_at IS NULL");

        Assert.Matches("^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$", stored);
        Assert.True(await fixture.Provider.IsActiveAsync(OAuthFixture.DecryptStored(stored!)));
    }

    [Fact]
    public async Task ProviderSaysNo_EndsTheSessionsPersonalTokensAndApprovalConnections_ButNotAClientsOwnConnection()
    {
        const string login = "bound-refused";
        using var browser = await SignInOnThePageAsync(login);
        var personal = await CreatePersonalTokenAsync(browser, days: 30);
        var (client, clientTokens) = await ConnectClientAsync(browser, login);
        // The client disconnects itself (its approval stays), then comes back through Continue: that
        // connection holds no provider tokens of its own, so the page's sign-in bounds it.
        await fixture.RevokeAsync(clientTokens.RefreshToken, client.ClientId);
        var approved = await ContinueAsync(browser, client, login);
        // Another client of the person, connected through its own sign-in at the provider (another browser).
        var (ownConnection, _) = await fixture.SignInAsync(login, clientName: "Own sign-in");
        var (bystanderBrowser, bystanderToken) = await PersonWithTokenAsync("bound-bystander");
        using var _ = bystanderBrowser;
        foreach (var token in new[] { personal, approved.AccessToken, ownConnection.AccessToken, bystanderToken })
        {
            Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(token)).StatusCode);
        }

        // The person is disabled at the provider: their sign-in there ends.
        var signIn = await LiveSignInAsync(login);
        await RevokeAtProviderAsync(await StoredRefreshTokenAsync(signIn));
        await MakeDueAsync(login);
        var report = await SignIns.RecheckAsync(CancellationToken.None);

        Assert.True(report.Refused >= 1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(personal)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(approved.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(client, approved.RefreshToken))).StatusCode);
        Assert.Contains("href=\"/signin\"", await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync());
        // The client's own connection holds its own provider sign-in: it is asked about when its client refreshes.
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(ownConnection.AccessToken)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(bystanderToken)).StatusCode);
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_audit WHERE event = 'provider_ended_sign_in' AND user_id = @u AND error_code = 'OAUTH_TOKEN_REFRESH_FAILED'",
            ("u", login)));
        Assert.Contains(fixture.Logs.Lines, line => line.Contains($"Browser sign-in {signIn} ended (ProviderRefused); its web sessions ended and 2 connection(s) it made were revoked"));
    }

    /// <summary>
    /// Continue while the client's provider-backed connection lives: the new connection takes over its
    /// provider tokens (re-checked when its client refreshes) instead of trading them for the browser
    /// sign-in's bound, and nothing is revoked at the provider.
    /// </summary>
    [Fact]
    public async Task Continue_ReplacingAProviderBackedConnection_TakesOverItsProviderTokens()
    {
        const string login = "bound-inherits";
        using var browser = new BrowserAgent();
        var (client, own) = await ConnectClientAsync(browser, login);
        var ownConnection = await fixture.ConnectionOfAsync(own.AccessToken);
        var stored = await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_connections WHERE connection_id = @c", ("c", ownConnection));

        var approved = await ContinueAsync(browser, client, login);
        var approvedConnection = await fixture.ConnectionOfAsync(approved.AccessToken);

        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(own.AccessToken)).StatusCode);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT refresh_token = @r AND sign_in_id IS NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("r", stored!), ("c", approvedConnection)));
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT revoked_at IS NOT NULL AND refresh_token IS NULL FROM mcp_oauth_connections WHERE connection_id = @c", ("c", ownConnection)));
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_upstream_revocations WHERE held_by = @c", ("c", "connection: " + ownConnection)));
        Assert.True(await fixture.Provider.IsActiveAsync(OAuthFixture.DecryptStored(stored!)));
        // Its next refresh with the upstream token due asks the provider with the inherited token.
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_connections SET upstream_access_token_expires_at = now() WHERE connection_id = @c", ("c", approvedConnection));
        var refreshed = await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.RefreshForm(client, approved.RefreshToken)));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(refreshed.AccessToken)).StatusCode);
    }

    /// <summary>
    /// A Continue code redeemed while its browser sign-in ends (the attacker's review found a deadlock
    /// here, answered 500): the redemption holds its connection and waits to replace the client's earlier
    /// connection, while the end wants both. Both finish, and what the sign-in made is revoked.
    /// </summary>
    [Fact]
    public async Task RedeemingAContinueCode_WhileItsSignInEnds_NeitherDeadlocksNorAnswers5xx()
    {
        const string login = "bound-race";
        using var browser = await SignInOnThePageAsync(login);
        var (client, own) = await ConnectClientAsync(browser, login);
        await fixture.RevokeAsync(own.RefreshToken, client.ClientId);
        var earlier = await ContinueAsync(browser, client, login);
        var (code, verifier) = await ContinueCodeAsync(browser, client, login);

        // Hold redemption at its advisory lock, after it has locked its own connection.
        await using var admin = await fixture.Database.AdminDataSource.OpenConnectionAsync();
        await using var hold = await admin.BeginTransactionAsync();
        await using (var take = new Npgsql.NpgsqlCommand("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))", admin, hold))
        {
            take.Parameters.AddWithValue("key", $"neotoma-grant\n{login}\n{client.ClientId}");
            await take.ExecuteNonQueryAsync();
        }

        var redemption = fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, code, verifier));
        await Task.Delay(300);
        var end = SignIns.EndAllAsync(login, CancellationToken.None);
        await Task.Delay(300);
        await hold.CommitAsync();

        using var redeemed = await redemption;
        await end;
        Assert.True((int)redeemed.StatusCode < 500, $"redemption answered {(int)redeemed.StatusCode}: {await redeemed.Content.ReadAsStringAsync()}");
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_connections WHERE user_id = @u AND revoked_at IS NULL", ("u", login)));
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(earlier.AccessToken)).StatusCode);
    }

    [Fact]
    public async Task ProviderSaysYes_TheRecheckRotatesItsTokens_AndEndsNothing()
    {
        using var browser = await SignInOnThePageAsync("bound-confirmed");
        var personal = await CreatePersonalTokenAsync(browser, days: 30);
        var signIn = await LiveSignInAsync("bound-confirmed");
        var before = await StoredRefreshTokenAsync(signIn);
        await MakeDueAsync("bound-confirmed");

        var report = await SignIns.RecheckAsync(CancellationToken.None);

        Assert.True(report.Confirmed >= 1);
        var after = await StoredRefreshTokenAsync(signIn);
        Assert.NotEqual(before, after);
        Assert.True(await fixture.Provider.IsActiveAsync(OAuthFixture.DecryptStored(after)));
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT upstream_access_token_expires_at > now() + interval '30 minutes' FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @s", ("s", signIn)));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(personal)).StatusCode);
        Assert.DoesNotContain("href=\"/signin\"", await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ProviderNotAnswering_TheRecheckWaits_AndEndsNothing()
    {
        using var browser = await SignInOnThePageAsync("bound-outage");
        var personal = await CreatePersonalTokenAsync(browser, days: 30);
        await MakeDueAsync("bound-outage");

        await fixture.Provider.SetQuirksAsync(tokenOutage: true);
        SignInRecheck report;
        try
        {
            report = await SignIns.RecheckAsync(CancellationToken.None);
        }
        finally
        {
            await fixture.Provider.SetQuirksAsync();
        }

        Assert.True(report.Postponed >= 1);
        Assert.Equal(0, report.Refused);
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(personal)).StatusCode);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT ended_at IS NULL AND refresh_token IS NOT NULL FROM mcp_oauth_browser_sign_ins WHERE user_id = 'bound-outage'"));
    }

    [Fact]
    public async Task SignInWithoutARefreshToken_BoundsWhatItMakes_ByTheSessionsAbsoluteLifetime()
    {
        // Signed in to the page by connecting a client in this browser: the client's connection holds the provider's tokens.
        const string login = "bound-absolute";
        using var browser = new BrowserAgent();
        var client = await fixture.RegisterAsync(name: "Signs the browser in");
        await browser.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, login);
        var signIn = await LiveSignInAsync(login);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT refresh_token IS NULL AND expires_at BETWEEN now() + interval '6 days 23 hours' AND now() + interval '7 days' FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @s",
            ("s", signIn)));

        var personal = await CreatePersonalTokenAsync(browser, days: 30);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT expires_at <= now() + interval '7 days' FROM mcp_oauth_connections WHERE sign_in_id = @s AND origin = 'personal'", ("s", signIn)));

        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_browser_sign_ins SET expires_at = now() - interval '1 second' WHERE sign_in_id = @s", ("s", signIn));
        var report = await SignIns.RecheckAsync(CancellationToken.None);

        Assert.True(report.Expired >= 1);
        Assert.Equal(HttpStatusCode.Unauthorized, (await fixture.SendMcpAsync(personal)).StatusCode);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_web_sessions WHERE sign_in_id = @s", ("s", signIn)));
    }

    [Fact]
    public async Task SignInNothingUses_AfterSignOut_EndsAndItsProviderTokenIsRevokedThere()
    {
        using var browser = await SignInOnThePageAsync("bound-unused");
        var signIn = await LiveSignInAsync("bound-unused");
        var upstream = OAuthFixture.DecryptStored(await StoredRefreshTokenAsync(signIn));
        var csrf = await CsrfAsync(browser);
        Assert.Equal(HttpStatusCode.Redirect, (await browser.PostFormAsync(new Uri(fixture.Issuer + "/signout"), new Dictionary<string, string> { ["csrf_token"] = csrf })).StatusCode);
        await fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_browser_sign_ins SET created_at = now() - interval '1 hour' WHERE sign_in_id = @s", ("s", signIn));

        var report = await SignIns.RecheckAsync(CancellationToken.None);

        Assert.True(report.Unused >= 1);
        Assert.True(await fixture.Database.AdminScalarAsync<bool>(
            "SELECT ended_at IS NOT NULL AND refresh_token IS NULL FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @s", ("s", signIn)));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await fixture.Provider.IsActiveAsync(upstream))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the unused sign-in's provider token was not revoked there");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task RevokeAll_EndsThePersonsSignIns_AndRevokesTheirProviderTokensThere()
    {
        using var browser = await SignInOnThePageAsync("bound-revoke-all");
        var signIn = await LiveSignInAsync("bound-revoke-all");
        var upstream = OAuthFixture.DecryptStored(await StoredRefreshTokenAsync(signIn));

        using var response = await browser.PostFormAsync(new Uri(fixture.Issuer + "/connections/revoke-all"), new Dictionary<string, string> { ["csrf_token"] = await CsrfAsync(browser) });

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(*) FROM mcp_oauth_browser_sign_ins WHERE user_id = 'bound-revoke-all' AND ended_at IS NULL"));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await fixture.Provider.IsActiveAsync(upstream))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "Revoke all left the sign-in's provider token live there");
            await Task.Delay(20);
        }
    }

    private async Task<BrowserAgent> SignInOnThePageAsync(string login)
    {
        var browser = new BrowserAgent();
        await browser.SignInAsync(new Uri(fixture.Issuer + "/signin"), new Uri(fixture.Issuer + "/connections"), login);
        return browser;
    }

    private async Task<string> CsrfAsync(BrowserAgent browser) =>
        BrowserAgent.ParseForm(await (await browser.GetAsync(new Uri(fixture.Issuer + "/connections"))).Content.ReadAsStringAsync()).Fields["csrf_token"];

    private async Task<string> CreatePersonalTokenAsync(BrowserAgent browser, int days)
    {
        using var created = await browser.PostFormAsync(new Uri(fixture.Issuer + "/connections/tokens"),
            new Dictionary<string, string> { ["name"] = "Script", ["days"] = days.ToString(), ["csrf_token"] = await CsrfAsync(browser) });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        return PersonalTokenShown().Match(await created.Content.ReadAsStringAsync()).Groups["t"].Value;
    }

    private async Task<(BrowserAgent Browser, string Token)> PersonWithTokenAsync(string login)
    {
        var browser = await SignInOnThePageAsync(login);
        return (browser, await CreatePersonalTokenAsync(browser, days: 30));
    }

    /// <summary>Connects a client in this (signed-in) browser, approving it on the consent page: its approval is remembered.</summary>
    private async Task<(OAuthFixture.RegisteredClient Client, OAuthFixture.Tokens Tokens)> ConnectClientAsync(BrowserAgent browser, string login)
    {
        var client = await fixture.RegisterAsync(name: "Bound client");
        var (verifier, challenge) = OAuthFixture.NewPkce();
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, login)).Query);
        return (client, await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, landing["code"].ToString(), verifier))));
    }

    /// <summary>The client asks again; the person clicks Continue on the remembered approval; the client redeems the code.</summary>
    private async Task<OAuthFixture.Tokens> ContinueAsync(BrowserAgent browser, OAuthFixture.RegisteredClient client, string login)
    {
        var (code, verifier) = await ContinueCodeAsync(browser, client, login);
        return await OAuthFixture.ReadTokensAsync(await fixture.TokenRequestAsync(OAuthFixture.CodeRedemption(client, code, verifier)));
    }

    /// <summary>The code a Continue sends the client (not redeemed), with its PKCE verifier.</summary>
    private async Task<(string Code, string Verifier)> ContinueCodeAsync(BrowserAgent browser, OAuthFixture.RegisteredClient client, string login)
    {
        var (verifier, challenge) = OAuthFixture.NewPkce();
        var visited = browser.Visited.Count;
        var landing = QueryHelpers.ParseQuery((await browser.SignInAsync(fixture.AuthorizeUrl(client, challenge), client.RedirectUri, login)).Query);
        Assert.DoesNotContain(browser.Visited.Skip(visited), v => v.StartsWith(fixture.Provider.Issuer.ToString().TrimEnd('/'), StringComparison.Ordinal));
        return (landing["code"].ToString(), verifier);
    }

    /// <summary>The person's live sign-in; the one made on the connections page (with the provider's tokens) when there are both kinds.</summary>
    private async Task<string> LiveSignInAsync(string login) =>
        (await fixture.Database.AdminScalarAsync<string>("""
            SELECT sign_in_id FROM mcp_oauth_browser_sign_ins WHERE user_id = @u AND ended_at IS NULL
            ORDER BY refresh_token IS NOT NULL DESC, created_at DESC LIMIT 1
            """, ("u", login)))!;

    private async Task<string> StoredRefreshTokenAsync(string signIn) =>
        (await fixture.Database.AdminScalarAsync<string>("SELECT refresh_token FROM mcp_oauth_browser_sign_ins WHERE sign_in_id = @s", ("s", signIn)))!;

    private Task MakeDueAsync(string login) => fixture.Database.AdminExecuteAsync(
        "UPDATE mcp_oauth_browser_sign_ins SET upstream_access_token_expires_at = now() WHERE user_id = @u AND ended_at IS NULL", ("u", login));

    /// <summary>What the provider does when the person is disabled there: the sign-in ends at the provider.</summary>
    private async Task RevokeAtProviderAsync(string storedRefreshToken)
    {
        var token = OAuthFixture.DecryptStored(storedRefreshToken);
        await fixture.Provider.RevokeAsync(token);
        Assert.False(await fixture.Provider.IsActiveAsync(token));
    }

    [GeneratedRegex("<pre data-copy id=\"token\">(?<t>[^<]+)</pre>")]
    private static partial Regex PersonalTokenShown();
}
