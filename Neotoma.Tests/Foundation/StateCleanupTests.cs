using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Neotoma.Core.Configuration;
using Neotoma.Core.Maintenance;
using Neotoma.Core.Storage;
using Neotoma.Functions.SelfHost;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>Guide: "Background job runs every 5 minutes, states expire after 10 minutes".</summary>
public sealed class StateCleanupTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
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
        var service = new StateCleanupService(new NeotomaDatabase(database.AppDataSource), TimeProvider.System,
            NullLogger<StateCleanupService>.Instance);

        var report = await service.RunAsync(CancellationToken.None);

        Assert.Equal(12000, report.ExpiredStates);
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
        var count = 1L;
        for (var attempt = 0; attempt < 100 && count != 0; attempt++)
        {
            await Task.Delay(50);
            count = await database.AdminScalarAsync<long>(remaining);
        }

        Assert.Equal(0L, count);
    }
}
