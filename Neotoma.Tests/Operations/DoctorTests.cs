using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.Diagnostics;
using Neotoma.Core.Maintenance;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Operations;

/// <summary>`./neotoma doctor`: every check of the guide's quick diagnostics passes on a healthy app and fails, with its fix, when broken.</summary>
public sealed class DoctorTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private Dictionary<string, string?> Healthy() => new()
    {
        [SettingNames.ApiBase] = fixture.Issuer,
        [SettingNames.DatabaseConnectionString] = fixture.Database.AppConnectionString,
        [SettingNames.EncryptionKey] = SelfHostServer.TestEncryptionKey,
        [SettingNames.UpstreamIssuer] = fixture.Provider.Issuer.ToString(),
        [SettingNames.UpstreamClientId] = DevIdentityProvider.ClientId,
    };

    private static async Task<IReadOnlyList<DoctorCheck>> RunAsync(Dictionary<string, string?> settings, Uri? url = null)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return await new DoctorService(configuration, http, TimeProvider.System).RunAsync(url, CancellationToken.None);
    }

    private static DoctorCheck Check(IReadOnlyList<DoctorCheck> checks, string name) => Assert.Single(checks, c => c.Name == name);

    private Task RunCleanupAsync() => fixture.Server.Services.GetRequiredService<StateCleanupService>().RunAsync(CancellationToken.None);

    [Fact]
    public async Task HealthyApp_PassesEveryCheck()
    {
        await RunCleanupAsync();

        var checks = await RunAsync(Healthy());

        Assert.All(checks, c => Assert.True(c.Ok, c.ToString()));
        var discovery = Check(checks, "discovery advertises registration");
        Assert.Contains("iss in authorization responses: advertised", discovery.Detail);
        Assert.Contains("client ID metadata documents: advertised", discovery.Detail);
        Assert.Contains("client authentication: none, private_key_jwt, client_secret_basic, client_secret_post; private_key_jwt: advertised (signed RS256, ES256, PS256; revocation: advertised)", discovery.Detail);
        Assert.Contains("enterprise-managed authorization (ID-JAG): advertised", discovery.Detail);
        Assert.Equal(
            ["server reachable", "discovery advertises registration", "encryption key", "upstream OpenID provider", "database reachable",
             "migrations applied", "row-level security", "state cleanup running", "no stale OAuth states", "revocation channel"],
            checks.Select(c => c.Name));
    }

    /// <summary>ACCESS_TOKEN_CACHE_SECONDS=0 (this fixture's app): nothing to hear, by choice, and doctor says why.</summary>
    [Fact]
    public async Task CacheOffByChoice_RevocationChannelIsOk_WithTheReason()
    {
        var check = Check(await RunAsync(Healthy()), "revocation channel");

        Assert.True(check.Ok, check.ToString());
        Assert.Contains("ACCESS_TOKEN_CACHE_SECONDS=0", check.Detail);
    }

    [Fact]
    public async Task ServerDown_FailsWithTheUrl()
    {
        var checks = await RunAsync(Healthy(), new Uri("http://127.0.0.1:1/"));

        var check = Check(checks, "server reachable");
        Assert.False(check.Ok);
        Assert.Contains("127.0.0.1:1", check.Detail);
        Assert.Contains("./neotoma up", check.Fix);
    }

    [Fact]
    public async Task HttpsOnPort443_GivesTheGuidesEconnrefusedHint()
    {
        var checks = await RunAsync(Healthy(), new Uri("https://localhost/"));

        Assert.Contains("http://localhost:8080/mcp", Check(checks, "server reachable").Fix);
    }

    [Fact]
    public async Task DiscoveryWithoutRegistrationEndpoint_Fails()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapPost("/mcp", () => Results.Unauthorized());
        app.MapGet("/.well-known/oauth-authorization-server", () => Results.Json(new { issuer = "http://x" }));
        app.MapGet("/.well-known/oauth-protected-resource/mcp", () => Results.Json(new { authorization_servers = new[] { "http://x" } }));
        await app.StartAsync();

        var checks = await RunAsync(Healthy(), new Uri(app.Urls.First() + "/"));

        Assert.True(Check(checks, "server reachable").Ok);
        var discovery = Check(checks, "discovery advertises registration");
        Assert.False(discovery.Ok);
        Assert.Contains("registration_endpoint", discovery.Detail);
    }

    [Theory]
    [InlineData(null, "OAUTH_ENCRYPTION_KEY_MISSING")]
    [InlineData("abc123", "OAUTH_ENCRYPTION_KEY_INVALID")]
    public async Task BadEncryptionKey_Fails(string? key, string code)
    {
        var settings = Healthy();
        settings[SettingNames.EncryptionKey] = key;

        var check = Check(await RunAsync(settings), "encryption key");

        Assert.False(check.Ok);
        Assert.Contains(code, check.Detail);
        Assert.Contains("randomBytes(32)", check.Fix);
    }

    [Fact]
    public async Task UpstreamUnreachable_Fails()
    {
        var settings = Healthy();
        settings[SettingNames.UpstreamIssuer] = "http://127.0.0.1:9";

        var check = Check(await RunAsync(settings), "upstream OpenID provider");

        Assert.False(check.Ok);
        Assert.Contains("OIDC_ISSUER", check.Fix);
    }

    [Fact]
    public async Task NoClientIdAndNoDynamicRegistration_Fails()
    {
        var settings = Healthy();
        settings[SettingNames.UpstreamClientId] = null;

        var check = Check(await RunAsync(settings), "upstream OpenID provider");

        Assert.False(check.Ok);
        Assert.Contains("OAUTH_CLIENT_REGISTRATION_FAILED", check.Detail);
    }

    [Fact]
    public async Task DatabaseDown_Fails()
    {
        var settings = Healthy();
        settings[SettingNames.DatabaseConnectionString] = "Host=127.0.0.1;Port=1;Database=neotoma;Username=u;Password=secret-pw";

        var checks = await RunAsync(settings);

        var check = Check(checks, "database reachable");
        Assert.False(check.Ok);
        Assert.DoesNotContain("secret-pw", check.ToString());
    }

    [Fact]
    public async Task MigrationsPending_Fails()
    {
        var empty = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            var settings = Healthy();
            settings[SettingNames.DatabaseConnectionString] = PostgresServer.AppConnectionString(empty);

            var check = Check(await RunAsync(settings), "migrations applied");

            Assert.False(check.Ok);
            Assert.Equal("./neotoma migrate", check.Fix);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(empty);
        }
    }

    [Theory]
    [InlineData("mcp_oauth_state")]
    [InlineData("entities")]
    public async Task RowLevelSecurityOff_Fails(string table)
    {
        await fixture.Database.AdminExecuteAsync($"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY");
        try
        {
            var check = Check(await RunAsync(Healthy()), "row-level security");

            Assert.False(check.Ok);
            Assert.Contains(table, check.Detail);
        }
        finally
        {
            await fixture.Database.AdminExecuteAsync($"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY");
        }
    }

    [Fact]
    public async Task CleanupNotRunningAndStaleStates_Fail()
    {
        await fixture.Database.AdminExecuteAsync("""
            UPDATE mcp_maintenance_runs SET last_run_at = now() - interval '1 hour';
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, created_at, expires_at)
            VALUES ('doctor-stale', 'c', 'v', 'n', now() - interval '30 minutes', now() - interval '20 minutes');
            """);
        try
        {
            // No server to ask when it started (one that started minutes ago may not have run it yet: the test below).
            var checks = await RunAsync(Healthy(), new Uri("http://127.0.0.1:1/"));

            Assert.False(Check(checks, "state cleanup running").Ok);
            Assert.Contains("1 state(s) older than 10 minutes", Check(checks, "no stale OAuth states").Detail);
        }
        finally
        {
            await RunCleanupAsync();
        }
    }

    /// <summary>
    /// Right after `./neotoma up` (or a cold start) the five-minute timer has not fired yet: that is no
    /// failure while the app is younger than one period, and is one once it is older.
    /// </summary>
    [Theory]
    [InlineData(30, true)]
    [InlineData(20 * 60, false)]
    public async Task CleanupNotRunYet_PassesOnlyInTheFirstMinutesAfterTheAppStarted(int startedSecondsAgo, bool ok)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = builder.Build();
        app.MapGet("/api/health", () => Results.Json(new { status = "ok", started_at = DateTimeOffset.UtcNow.AddSeconds(-startedSecondsAgo) }));
        await app.StartAsync();
        await fixture.Database.AdminExecuteAsync("DELETE FROM mcp_maintenance_runs");
        try
        {
            var check = Check(await RunAsync(Healthy(), new Uri(app.Urls.First() + "/")), "state cleanup running");

            Assert.True(ok == check.Ok, check.ToString());
            Assert.Contains(ok ? "its first run comes within 5 minutes" : "no cleanup run recorded", check.Detail);
        }
        finally
        {
            await RunCleanupAsync();
        }
    }
}
