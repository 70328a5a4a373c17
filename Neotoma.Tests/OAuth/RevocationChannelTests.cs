using System.Net;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Tests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace Neotoma.Tests.OAuth;

/// <summary>
/// A listener that knows it hears: it proves its channel with a probe of its own, and while it
/// cannot (its connection was cut, or its path went silent) the instance serves with its cache off.
/// </summary>
public sealed class RevocationChannelTests(LongCacheOAuthFixture fixture, ITestOutputHelper output) : IClassFixture<LongCacheOAuthFixture>
{
    [Fact]
    public async Task ListenerBackendKilled_TurnsTheCacheOffAtOnce_AndHearsAgainWithinSeconds()
    {
        await RevocationChannel.WaitForAsync(fixture.App, RevocationChannelState.Hearing, TimeSpan.FromSeconds(30));
        var killed = await fixture.Database.AdminScalarAsync<long>(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND application_name = @name",
            ("name", RevocationListener.ApplicationName));
        Assert.True(killed >= 1, "no listener connection to kill");

        var deaf = await RevocationChannel.WaitForAsync(fixture.App, RevocationChannelState.Deaf, TimeSpan.FromSeconds(15));
        Assert.Contains("57P01", (await RevocationChannel.ReadAsync(fixture.App)).Reason);
        var hearing = deaf + await RevocationChannel.WaitForAsync(fixture.App, RevocationChannelState.Hearing, TimeSpan.FromSeconds(15));

        output.WriteLine($"backend killed: cache off after {deaf.TotalMilliseconds:F0} ms, hearing again after {hearing.TotalMilliseconds:F0} ms");
        Assert.Contains(fixture.Logs.Lines, line => line.Contains("Lost the revocation channel (PostgresException 57P01)"));
        var back = fixture.Logs.Lines.LastOrDefault(line => line.Contains("Revocation channel is back"));
        Assert.NotNull(back);
        output.WriteLine(back);
    }

    [Fact]
    public async Task ListenerPathGoesSilent_IsDeafWithinAProbeIntervalAndTimeout_ServesWithoutTheCache_AndHearsWhenItFlowsAgain()
    {
        await using var relay = StallingRelay.Start(new NpgsqlConnectionStringBuilder(fixture.Database.AppConnectionString).Port);
        await using var second = await fixture.StartSecondInstanceAsync(settings => settings[SettingNames.DatabaseDirectConnectionString] =
            new NpgsqlConnectionStringBuilder(fixture.Database.AppConnectionString) { Port = relay.Port }.ConnectionString);
        await RevocationChannel.WaitForAsync(second, RevocationChannelState.Hearing, TimeSpan.FromSeconds(30));
        var (tokens, _) = await fixture.SignInAsync("silent-path");
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second, tokens.AccessToken));
        // Behind the app's back: only the second instance's cache still answers for this token.
        await ExpireBehindTheAppsBackAsync(tokens.AccessToken);
        Assert.Equal(HttpStatusCode.OK, await CallAsync(second, tokens.AccessToken));

        relay.Stall();
        // 15 s at worst by design (a probe interval and a probe timeout); the limit leaves room for a loaded machine.
        var deaf = await RevocationChannel.WaitForAsync(second, RevocationChannelState.Deaf, TimeSpan.FromSeconds(30));

        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(second, tokens.AccessToken));
        Assert.Contains("did not hear its own probe", (await RevocationChannel.ReadAsync(second)).Reason);
        Assert.Contains(fixture.Logs.Lines, line => line.Contains("did not hear its own probe within 5 s"));
        relay.Resume();
        var hearing = await RevocationChannel.WaitForAsync(second, RevocationChannelState.Hearing, TimeSpan.FromSeconds(20));
        output.WriteLine($"path stalled: cache off after {deaf.TotalSeconds:F1} s; resumed: hearing again after {hearing.TotalSeconds:F1} s");
    }

    private Task ExpireBehindTheAppsBackAsync(string accessToken) =>
        fixture.Database.AdminExecuteAsync("UPDATE mcp_oauth_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = @h",
            ("h", OpaqueToken.Hash(accessToken)));

    private async Task<HttpStatusCode> CallAsync(IAppServer server, string accessToken) =>
        (await fixture.SendMcpAsync(accessToken, instance: server)).StatusCode;
}

/// <summary>
/// Request traffic through Debian's PgBouncer in transaction mode (General Purpose), the direct port
/// for LISTEN; instances that forget the direct port are started by the tests.
/// </summary>
public sealed class PooledRevocationFixture : OAuthFixture
{
    public PostgresCluster Cluster { get; private set; } = null!;

    public PgBouncer Bouncer { get; private set; } = null!;

    protected override async Task BeforeStartAsync()
    {
        Cluster = await PostgresCluster.StartAsync();
        Bouncer = await PgBouncer.StartAsync(Cluster, serverPoolSize: 5);
    }

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        while ((await App.Client.GetAsync("/api/health")).StatusCode != HttpStatusCode.OK)
        {
            await Task.Delay(100);
        }
    }

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings[SettingNames.DatabaseConnectionString] = Bouncer.AppConnectionString(maxPoolSize: 20);
        settings[SettingNames.DatabaseDirectConnectionString] = Cluster.AppConnectionString;
        settings[SettingNames.AccessTokenCacheSeconds] = "60";
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Bouncer.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>LISTEN through a transaction-mode pooler succeeds and never hears: the probe tells, and the cache stays off.</summary>
public sealed class PooledRevocationChannelTests(PooledRevocationFixture fixture, ITestOutputHelper output) : IClassFixture<PooledRevocationFixture>
{
    [Fact]
    public async Task WithTheDirectPort_TheChannelHears_AndDoctorSaysOk()
    {
        var ready = await RevocationChannel.WaitForAsync(fixture.App, RevocationChannelState.Hearing, TimeSpan.FromSeconds(30));

        var report = await RevocationChannel.ReadAsync(fixture.App);
        Assert.Null(report.Reason);
        Assert.NotNull(report.HeardAt);
        var doctor = await RevocationChannel.DoctorAsync(fixture.App);
        Assert.True(doctor.Ok, doctor.ToString());
        Assert.Contains("hearing", doctor.Detail);
        output.WriteLine($"hearing {ready.TotalMilliseconds:F0} ms into the test; doctor: {doctor}");
    }

    [Fact]
    public async Task ThroughThePoolerWithoutTheDirectPort_TheChannelIsDeaf_ARevokedTokenIsRefusedAtOnce_AndDoctorFails()
    {
        await using var pooled = await fixture.StartSecondInstanceAsync(settings =>
        {
            settings[SettingNames.DatabaseDirectConnectionString] = null;
            // Migrations take a session lock: the first instance has applied them through the direct port.
            settings[SettingNames.MigrateOnStartup] = "false";
        });

        // About 5 s by design (one probe timeout after start); the limit leaves room for a loaded machine.
        var deaf = await RevocationChannel.WaitForAsync(pooled, report => report.Reason?.Contains("did not hear its own probe") == true, TimeSpan.FromSeconds(30));

        var report = await RevocationChannel.ReadAsync(pooled);
        Assert.Equal(RevocationChannelState.Deaf, report.Status);
        Assert.Null(report.HeardAt);
        Assert.Contains(fixture.Logs.Lines, line => line.Contains("did not hear its own probe within 5 s")
                                                    && line.Contains("DATABASE_DIRECT_CONNECTION_STRING"));
        var doctor = await RevocationChannel.DoctorAsync(pooled);
        Assert.False(doctor.Ok, doctor.ToString());
        Assert.Contains("deaf", doctor.Detail);
        Assert.Contains("DATABASE_DIRECT_CONNECTION_STRING", doctor.Fix);
        output.WriteLine($"deaf {deaf.TotalSeconds:F1} s after it started; doctor: {doctor}");

        // Its cache is off: a token revoked through the other instance is refused here at once.
        await RevocationChannel.WaitForAsync(fixture.App, RevocationChannelState.Hearing, TimeSpan.FromSeconds(30));
        var (tokens, client) = await fixture.SignInAsync("through-the-pooler");
        // Twice: a cache would take the first answer and give the second.
        Assert.Equal(HttpStatusCode.OK, await CallAsync(pooled, tokens.AccessToken));
        Assert.Equal(HttpStatusCode.OK, await CallAsync(pooled, tokens.AccessToken));
        await fixture.App.Client.PostAsync("/api/mcp/oauth/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["token"] = tokens.RefreshToken, ["client_id"] = client.ClientId,
        }));

        Assert.Equal(HttpStatusCode.Unauthorized, await CallAsync(pooled, tokens.AccessToken));
    }

    private async Task<HttpStatusCode> CallAsync(IAppServer server, string accessToken) =>
        (await fixture.SendMcpAsync(accessToken, instance: server)).StatusCode;
}
