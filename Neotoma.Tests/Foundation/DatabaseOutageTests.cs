using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.Foundation;

/// <summary>Neotoma on a PostgreSQL cluster of its own, which the tests restart and stop.</summary>
public sealed class OwnClusterOAuthFixture : OAuthFixture
{
    public PostgresCluster Cluster { get; private set; } = null!;

    protected override async Task BeforeStartAsync() => Cluster = await PostgresCluster.StartAsync();

    protected override void Configure(Dictionary<string, string?> settings) =>
        settings[SettingNames.DatabaseConnectionString] = Cluster.AppConnectionString;

    /// <summary>The empty cluster is migrated by the app at start-up; the tests begin once it is.</summary>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        var clock = Stopwatch.StartNew();
        while ((await Server.Client.GetAsync("/api/health")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the app did not migrate its own cluster");
            await Task.Delay(100);
        }
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>
/// A bad day for the database: restarted under load, every acknowledged write is still there and
/// errors stop within seconds; down, every endpoint answers 503 with Retry-After (never 500), and
/// when it is back everything works without restarting the app.
/// </summary>
public sealed class DatabaseOutageTests(OwnClusterOAuthFixture fixture, ITestOutputHelper output) : IClassFixture<OwnClusterOAuthFixture>
{
    [Fact]
    public async Task RestartUnderLoad_LosesNoAcknowledgedWrite_AndErrorsStopWithinSeconds()
    {
        var (tokens, _) = await fixture.SignInAsync("restart-load");
        var acknowledged = new ConcurrentBag<string>();
        var statuses = new ConcurrentDictionary<string, int>();
        var lastFailure = DateTime.MinValue;
        var restarted = DateTime.MaxValue;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(8));

        var load = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var name = $"Load {worker}-{i}";
                var (status, ok) = await StoreAsync(tokens.AccessToken, name);
                statuses.AddOrUpdate($"{(int)status}{(ok ? "" : " tool error")}", 1, (_, n) => n + 1);
                if (ok)
                {
                    acknowledged.Add(name);
                }
                else
                {
                    lastFailure = DateTime.UtcNow;
                }
            }
        })).ToArray();
        await Task.Delay(2000);
        await fixture.Cluster.RestartAsync();
        restarted = DateTime.UtcNow;
        await Task.WhenAll(load);

        output.WriteLine($"acknowledged {acknowledged.Count}; answers: {string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"))}; " +
            $"last failure {(lastFailure == DateTime.MinValue ? "none" : $"{(lastFailure - restarted).TotalMilliseconds:F0} ms after the restart returned")}");
        Assert.DoesNotContain(statuses.Keys, s => s.StartsWith('5') && !s.StartsWith("503"));
        Assert.True(lastFailure < restarted.AddSeconds(3), "errors went on for more than 3 s after PostgreSQL was back");
        var stored = await fixture.Cluster.AdminScalarAsync<string[]>(
            "SELECT array_agg(canonical_name) FROM entities WHERE user_id = 'restart-load'");
        var lost = acknowledged.Except(stored ?? []).ToArray();
        Assert.True(lost.Length == 0, $"{lost.Length} acknowledged writes are missing: {string.Join(", ", lost.Take(5))}");
        Assert.True(acknowledged.Count > 50, $"only {acknowledged.Count} writes were acknowledged");
    }

    /// <summary>
    /// A tool that meets the database unable to serve (here a table it needs is missing, as on an instance
    /// serving while its start-up migration runs) answers a tool error with the guide's code that says
    /// nothing was changed and to try again: not the SDK's generic error, never a stack trace.
    /// </summary>
    [Fact]
    public async Task ToolCall_WhenItsTableIsMissing_IsAToolErrorWithTheGuidesCode_AndStoresOnceItIsBack()
    {
        var client = await fixture.ConnectAsync("table-missing");
        var store = new Dictionary<string, object?> { ["entities"] = new[] { new { entity_type = "person", name = "Ada Lovelace" } } };
        await AppExecuteAsync("ALTER TABLE entities RENAME TO entities_away");
        ModelContextProtocol.Protocol.CallToolResult failed;
        try
        {
            failed = await client.CallToolAsync("store", store);
        }
        finally
        {
            await AppExecuteAsync("ALTER TABLE entities_away RENAME TO entities");
        }

        var text = string.Join(" ", failed.Content.OfType<ModelContextProtocol.Protocol.TextContentBlock>().Select(block => block.Text));
        Assert.True(failed.IsError, text);
        Assert.Contains("OAUTH_DATABASE_UNAVAILABLE", text);
        Assert.Contains("nothing was changed", text);
        Assert.DoesNotContain("   at ", text);
        const string ada = "SELECT count(*) FROM entities WHERE canonical_name = 'Ada Lovelace'";
        Assert.Equal(0L, await fixture.Cluster.AdminScalarAsync<long>(ada));

        var stored = await client.CallToolAsync("store", store);
        Assert.NotEqual(true, stored.IsError);
        Assert.Equal(1L, await fixture.Cluster.AdminScalarAsync<long>(ada));
    }

    private async Task AppExecuteAsync(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.Cluster.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task DatabaseDown_EveryEndpointAnswers503WithRetryAfter_AndRecoversWhenItIsBack()
    {
        var (tokens, client) = await fixture.SignInAsync("down-and-up");
        await fixture.Cluster.StopAsync();
        try
        {
            var answers = new Dictionary<string, HttpResponseMessage>
            {
                ["mcp"] = await fixture.SendMcpAsync(tokens.AccessToken),
                ["token"] = await fixture.TokenRequestAsync(new Dictionary<string, string>
                {
                    ["grant_type"] = "refresh_token", ["refresh_token"] = tokens.RefreshToken, ["client_id"] = client.ClientId,
                }),
                ["register"] = await fixture.Server.Client.PostAsync("/api/mcp/oauth/register",
                    new StringContent("""{"redirect_uris":["http://127.0.0.1:9/cb"]}""", Encoding.UTF8, "application/json")),
                ["authorize"] = await fixture.Server.Client.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge)),
                ["revoke"] = await fixture.Server.Client.PostAsync("/api/mcp/oauth/revoke",
                    new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = "x" })),
                ["health"] = await fixture.Server.Client.GetAsync("/api/health"),
            };

            foreach (var (endpoint, response) in answers)
            {
                Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{endpoint}: {(int)response.StatusCode}");
                var body = await response.Content.ReadAsStringAsync();
                Assert.DoesNotContain("   at ", body);
                if (endpoint != "health")
                {
                    Assert.NotNull(response.Headers.RetryAfter);
                    Assert.Contains(endpoint == "mcp" ? "not ready" : "OAUTH_DATABASE_UNAVAILABLE", body);
                }
            }
        }
        finally
        {
            await fixture.Cluster.StartServerAsync();
        }

        var clock = Stopwatch.StartNew();
        while ((await fixture.SendMcpAsync(tokens.AccessToken)).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), "the app did not recover after PostgreSQL came back");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task BeforeTheSchemaIsMigrated_RequestsAre503_Not500()
    {
        var empty = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await using var server = await SelfHostServer.StartAsync(new Dictionary<string, string?>
            {
                [SettingNames.DatabaseConnectionString] = PostgresServer.AppConnectionString(empty),
                [SettingNames.MigrateOnStartup] = "false",
            });

            var register = await server.Client.PostAsync("/api/mcp/oauth/register",
                new StringContent("""{"redirect_uris":["http://127.0.0.1:9/cb"]}""", Encoding.UTF8, "application/json"));
            var mcp = await server.Client.PostAsync("/mcp", new StringContent(OAuthFixture.ToolsListRequest)
            {
                Headers = { ContentType = new("application/json") },
            });

            Assert.Equal(HttpStatusCode.ServiceUnavailable, register.StatusCode);
            Assert.Contains("OAUTH_DATABASE_UNAVAILABLE", await register.Content.ReadAsStringAsync());
            Assert.NotNull(register.Headers.RetryAfter);
            Assert.Equal(HttpStatusCode.Unauthorized, mcp.StatusCode);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(empty);
        }
    }

    private async Task<(HttpStatusCode Status, bool Ok)> StoreAsync(string accessToken, string name)
    {
        var call = JsonSerializer.Serialize(new
        {
            jsonrpc = "2.0", id = 1, method = "tools/call",
            @params = new { name = "store", arguments = new { entities = new[] { new { entity_type = "person", name } } } },
        });
        try
        {
            var response = await fixture.SendMcpAsync(accessToken, call);
            var text = await response.Content.ReadAsStringAsync();
            return (response.StatusCode, response.IsSuccessStatusCode && !text.Contains("\"isError\":true") && !text.Contains("\"error\""));
        }
        catch (HttpRequestException)
        {
            return (HttpStatusCode.BadGateway, false);
        }
    }
}
