using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Neotoma.Core.Configuration;
using Neotoma.Core.Maintenance;
using Neotoma.Core.Storage;
using Neotoma.Functions.SelfHost;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.Foundation;

/// <summary>Guide: "Background job runs every 5 minutes, states expire after 10 minutes".</summary>
public sealed class StateCleanupTests(DatabaseFixture database, ITestOutputHelper output) : IClassFixture<DatabaseFixture>
{
    private StateCleanupService Service(CleanupOptions? options = null) =>
        new(new NeotomaDatabase(database.AppDataSource), options ?? new CleanupOptions(),
            TimeProvider.System, NullLogger<StateCleanupService>.Instance);

    [Fact]
    public async Task Cleanup_DeletesExpiredCodesTokensWindowsAndStaleClients_AndKeepsLiveOnes()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_connections (connection_id, user_id, client_id) VALUES ('cl-conn', 'u', 'client-live');
            INSERT INTO mcp_oauth_codes (code_hash, connection_id, client_id, redirect_uri, code_challenge, scope, resource, expires_at) VALUES
              ('code-old', 'cl-conn', 'c', 'r', 'x', 'mcp', 'res', now() - interval '1 hour'),
              ('code-live', 'cl-conn', 'c', 'r', 'x', 'mcp', 'res', now() + interval '1 minute');
            INSERT INTO mcp_oauth_tokens (token_hash, kind, family_id, connection_id, client_id, user_id, scope, resource, expires_at) VALUES
              ('tok-old', 'access', 'f', 'cl-conn', 'c', 'u', 'mcp', 'res', now() - interval '1 second'),
              ('tok-live', 'refresh', 'f', 'cl-conn', 'c', 'u', 'mcp', 'res', now() + interval '1 day');
            INSERT INTO mcp_oauth_rate_limits (bucket, window_start, hits) VALUES
              ('Token:1.2.3.4', now() - interval '10 minutes', 3), ('Token:1.2.3.4', date_trunc('minute', now()), 1);
            INSERT INTO mcp_oauth_clients (client_id, redirect_uris, grant_types, response_types, token_endpoint_auth_method, created_at) VALUES
              ('client-stale', '{https://a.example/cb}', '{authorization_code}', '{code}', 'none', now() - interval '100 days'),
              ('client-live', '{https://a.example/cb}', '{authorization_code}', '{code}', 'none', now() - interval '100 days'),
              ('client-new', '{https://a.example/cb}', '{authorization_code}', '{code}', 'none', now() - interval '1 day');
            """);

        var report = await Service().RunAsync(CancellationToken.None);

        Assert.Equal(1, report.Deleted[StateCleanupService.Codes]);
        Assert.Equal(1, report.Deleted[StateCleanupService.Tokens]);
        Assert.Equal(1, report.Deleted[StateCleanupService.RateLimitWindows]);
        Assert.Equal(1, report.Deleted[StateCleanupService.Clients]);
        Assert.Equal("code-live", await database.AdminScalarAsync<string>("SELECT string_agg(code_hash, ',') FROM mcp_oauth_codes"));
        Assert.Equal("tok-live", await database.AdminScalarAsync<string>("SELECT string_agg(token_hash, ',') FROM mcp_oauth_tokens"));
        Assert.Equal(1L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_rate_limits"));
        Assert.Equal("client-live,client-new", await database.AdminScalarAsync<string>(
            "SELECT string_agg(client_id, ',' ORDER BY client_id) FROM mcp_oauth_clients"));
    }

    [Fact]
    public async Task Cleanup_DeletesAuditRowsPastRetention_AndEndedWebSessions_KeepingTheRest()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_audit (event, user_id, success, created_at) VALUES
              ('web_sign_in', 'audit-old', true, now() - interval '31 days'), ('web_sign_in', 'audit-new', true, now() - interval '29 days');
            INSERT INTO mcp_oauth_browser_sign_ins (sign_in_id, user_id) VALUES ('signin-u', 'u');
            INSERT INTO mcp_oauth_web_sessions (session_hash, user_id, sign_in_id, last_seen_at, expires_at) VALUES
              ('s-ended', 'u', 'signin-u', now() - interval '9 hours', now() - interval '1 hour'), ('s-live', 'u', 'signin-u', now(), now() + interval '8 hours');
            """);

        var report = await Service(new CleanupOptions { AuditRetention = TimeSpan.FromDays(30) }).RunAsync(CancellationToken.None);

        Assert.True(report.Deleted[StateCleanupService.AuditRows] >= 1);
        Assert.Equal(1, report.Deleted[StateCleanupService.WebSessions]);
        Assert.Equal(0L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_audit WHERE user_id = 'audit-old'"));
        Assert.Equal(1L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_audit WHERE user_id = 'audit-new'"));
        Assert.Equal("s-live", await database.AdminScalarAsync<string>("SELECT string_agg(session_hash, ',') FROM mcp_oauth_web_sessions"));
    }

    /// <summary>A JWT id is kept while its JWT could still pass (so a replay is caught), then swept: the one store of seen ids stays the size of five minutes' traffic.</summary>
    [Fact]
    public async Task Cleanup_DeletesExpiredJwtIds_AndAnIdStillLiveIsStillRefusedOnce()
    {
        var app = new NeotomaDatabase(database.AppDataSource);
        Assert.True(await JwtIdStore.TryRecordAsync(app, "https://client.example/a.json", "jti-expired", DateTimeOffset.UtcNow.AddSeconds(-1), CancellationToken.None));
        Assert.True(await JwtIdStore.TryRecordAsync(app, "https://client.example/a.json", "jti-live", DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None));
        Assert.True(await JwtIdStore.TryRecordAsync(app, "https://other.example/b.json", "jti-live", DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None));

        var report = await Service().RunAsync(CancellationToken.None);

        Assert.Equal(1, report.Deleted[StateCleanupService.JwtIdRows]);
        Assert.False(await JwtIdStore.TryRecordAsync(app, "https://client.example/a.json", "jti-live", DateTimeOffset.UtcNow.AddMinutes(5), CancellationToken.None));
        Assert.Equal(2L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_jwt_ids WHERE jti = 'jti-live'"));
    }

    [Fact]
    public async Task Cleanup_OfAHundredThousandExpiredStates_WorksInBatches()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, created_at, expires_at)
            SELECT 'bulk-' || i, 'c', 'v', 'n', now() - interval '1 hour', now() - interval '50 minutes'
            FROM generate_series(1, 100000) AS i
            """);

        var report = await Service().RunAsync(CancellationToken.None);

        output.WriteLine($"100k expired states: {report.ExpiredStates} deleted in {report.Elapsed.TotalMilliseconds:F0} ms, longest batch {report.LongestBatch.TotalMilliseconds:F0} ms");
        Assert.True(report.ExpiredStates >= 100000);
        Assert.Equal(0L, await database.AdminScalarAsync<long>("SELECT count(*) FROM mcp_oauth_state WHERE state LIKE 'bulk-%'"));
    }

    [Fact]
    public async Task Cleanup_DeletesExpiredStatesOnly_AndTheGuideCheckReturnsZero()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, created_at, expires_at)
            SELECT 'old-' || i, 'c', 'v', 'n', now() - interval '20 minutes', now() - interval '10 minutes'
            FROM generate_series(1, 12000) AS i;
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES ('live', 'c', 'v', 'n', now() + interval '9 minutes');
            """);
        var report = await Service().RunAsync(CancellationToken.None);

        Assert.True(report.ExpiredStates >= 12000);
        Assert.Equal(0L, await database.AdminScalarAsync<long>(
            "SELECT COUNT(*) FROM mcp_oauth_state WHERE created_at < NOW() - INTERVAL '10 minutes'"));
        Assert.Equal(1L, await database.AdminScalarAsync<long>("SELECT COUNT(*) FROM mcp_oauth_state WHERE state = 'live'"));
    }

    [Fact]
    public void Schedule_FiresEveryFiveMinutes()
    {
        var expression = TimerFunctionScheduler.Parse(Functions.StateCleanupFunction.Schedule);
        var start = new DateTime(2026, 1, 1, 10, 2, 30, DateTimeKind.Utc);

        var first = expression.GetNextOccurrence(start)!.Value;
        var second = expression.GetNextOccurrence(first)!.Value;

        Assert.Equal(new DateTime(2026, 1, 1, 10, 5, 0, DateTimeKind.Utc), first);
        Assert.Equal(TimeSpan.FromMinutes(5), second - first);
    }

    [Fact]
    public async Task SelfHost_RunsTheTimerFunctionOnItsSchedule()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES ('timer-expired', 'c', 'v', 'n', '2000-01-01T00:00:00Z');
            """);
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 10, 2, 0, TimeSpan.Zero));
        await using var server = await SelfHostServer.StartAsync(
            new Dictionary<string, string?> { [SettingNames.DatabaseConnectionString] = database.AppConnectionString },
            services => services.AddSingleton<TimeProvider>(clock));

        const string remaining = "SELECT COUNT(*) FROM mcp_oauth_state WHERE state = 'timer-expired'";
        await Task.Delay(200);
        Assert.Equal(1L, await database.AdminScalarAsync<long>(remaining));

        clock.Advance(TimeSpan.FromMinutes(3));
        // The timer fires on the moved clock at once; the wait is only for the run to finish on a busy machine.
        var count = 1L;
        for (var waited = System.Diagnostics.Stopwatch.StartNew(); count != 0 && waited.Elapsed < TimeSpan.FromSeconds(30);)
        {
            await Task.Delay(50);
            count = await database.AdminScalarAsync<long>(remaining);
        }

        Assert.Equal(0L, count);
    }
}
