using System.Net;
using System.Text.Json;
using Neotoma.Core.Configuration;
using Neotoma.Core.Storage;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

public sealed class HealthEndpointTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task Health_WithDatabaseUpAndMigrated_Answers200WithTheSchemaVersion()
    {
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
        });

        var response = await server.Client.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ok", body.RootElement.GetProperty("status").GetString());
        Assert.Equal(MigrationScripts.Neotoma.Latest, body.RootElement.GetProperty("migration_version").GetString());
    }

    [Fact]
    public async Task Health_SaysTheRevocationChannelHears_OnceTheListenersOwnProbeCameBack()
    {
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.AccessTokenCacheSeconds] = "5",
        });

        await RevocationChannel.WaitForAsync(server, "hearing", TimeSpan.FromSeconds(10));

        var report = await RevocationChannel.ReadAsync(server);
        Assert.Null(report.Reason);
        Assert.True(report.HeardAt > DateTimeOffset.UtcNow.AddSeconds(-15));
    }

    [Fact]
    public async Task Health_WithTheCacheOff_SaysTheChannelIsOff_AndWhy()
    {
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
            [SettingNames.AccessTokenCacheSeconds] = "0",
        });

        var report = await RevocationChannel.ReadAsync(server);

        Assert.Equal("off", report.Status);
        Assert.Contains("ACCESS_TOKEN_CACHE_SECONDS=0", report.Reason);
    }

    [Fact]
    public async Task Health_WithDatabaseDown_Answers503WithAReasonAndNoSecret()
    {
        const string password = "do-not-leak-this-password";
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            // Nothing listens on port 1.
            [SettingNames.DatabaseConnectionString] = $"Host=127.0.0.1;Port=1;Database=neotoma;Username=neotoma_app;Password={password};Timeout=2",
        });

        var response = await server.Client.GetAsync("/api/health");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        using var body = JsonDocument.Parse(text);
        Assert.Equal("unreachable", body.RootElement.GetProperty("database").GetString());
        Assert.Contains("DATABASE_CONNECTION_STRING", body.RootElement.GetProperty("reason").GetString());
        Assert.DoesNotContain(password, text);
        Assert.DoesNotContain("127.0.0.1", text);
    }

    [Fact]
    public async Task Startup_WithDatabaseDown_LogsOneClearLinePerRetry_WithoutPasswordOrStackTrace()
    {
        const string password = "never-log-this-password";
        var logs = new LogCollector();
        await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = $"Host=127.0.0.1;Port=1;Database=neotoma;Username=neotoma_app;Password={password};Timeout=2",
        }, services => services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(logs));

        string[] unreachable = [];
        for (var attempt = 0; attempt < 50 && unreachable.Length == 0; attempt++)
        {
            await Task.Delay(100);
            unreachable = logs.Lines.Where(line => line.Contains("Database unreachable")).ToArray();
        }

        var line = Assert.Single(unreachable);
        Assert.Contains("host=127.0.0.1 port=1 database=neotoma user=neotoma_app", line);
        Assert.Contains("Retrying in 1 s (attempt 1)", line);
        Assert.All(logs.Lines, l => Assert.DoesNotContain(password, l));
        Assert.DoesNotContain(logs.Lines, l => l.Contains("   at "));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await server.Client.GetAsync("/api/health")).StatusCode);
    }

    [Fact]
    public async Task Health_WithMigrationsPending_Answers503NamingTheVersions()
    {
        var empty = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
            {
                [SettingNames.DatabaseConnectionString] = PostgresServer.AppConnectionString(empty),
                [SettingNames.MigrateOnStartup] = "false",
            });

            var response = await server.Client.GetAsync("/api/health");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("reachable", body.RootElement.GetProperty("database").GetString());
            Assert.Contains("./neotoma migrate", body.RootElement.GetProperty("reason").GetString());
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(empty);
        }
    }

    [Fact]
    public async Task Startup_MigratesAnEmptyDatabase_ThenHealthSays200()
    {
        var empty = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
            {
                [SettingNames.DatabaseConnectionString] = PostgresServer.AppConnectionString(empty),
            });

            var status = HttpStatusCode.ServiceUnavailable;
            for (var attempt = 0; attempt < 100 && status != HttpStatusCode.OK; attempt++)
            {
                status = (await server.Client.GetAsync("/api/health")).StatusCode;
                if (status != HttpStatusCode.OK)
                {
                    await Task.Delay(100);
                }
            }

            Assert.Equal(HttpStatusCode.OK, status);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(empty);
        }
    }
}
