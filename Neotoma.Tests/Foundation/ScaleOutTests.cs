using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Neotoma.Tests.Foundation;

/// <summary>
/// Two instances of the app on one PostgreSQL whose max_connections is as small as a Burstable
/// server's (20, of which 17 are the app's), as Flex Consumption scales out. The pool sizes follow
/// the formula of docs/azure-scale-out.md; the app's LISTEN connection counts against the budget.
/// </summary>
public abstract class ScaleOutFixture : OAuthFixture
{
    public const int MaxConnections = 20;

    /// <summary>What the app role may use: max_connections less the 3 superuser_reserved_connections.</summary>
    public const int Budget = MaxConnections - 3;

    public const int Instances = 2;

    /// <summary>The default, as in Azure: with a cache each instance runs its revocation listener, whose connection counts against the budget.</summary>
    protected const string ProductionCacheSeconds = "5";

    public PostgresCluster Cluster { get; private set; } = null!;

    public SelfHostServer Second { get; private set; } = null!;

    protected override async Task BeforeStartAsync() => Cluster = await PostgresCluster.StartAsync(MaxConnections);

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        while ((await Server.Client.GetAsync("/api/health")).StatusCode != HttpStatusCode.OK)
        {
            await Task.Delay(100);
        }

        Second = await StartSecondInstanceAsync();
    }

    public override async Task DisposeAsync()
    {
        await Second.DisposeAsync();
        await base.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>Burstable: no pooler, each instance's pool is its share of the budget less its listener.</summary>
public sealed class DirectScaleOutFixture : ScaleOutFixture
{
    /// <summary>floor(17 / 2) - 1 = 7 pooled connections per instance, plus its LISTEN connection: 16 of 17.</summary>
    public const int PoolPerInstance = Budget / Instances - 1;

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings[SettingNames.DatabaseConnectionString] = Cluster.AppConnectionString + $";Maximum Pool Size={PoolPerInstance}";
        settings[SettingNames.AccessTokenCacheSeconds] = ProductionCacheSeconds;
    }
}

/// <summary>General Purpose: request traffic through PgBouncer in transaction mode, the direct port for migrations and LISTEN.</summary>
public sealed class PooledScaleOutFixture : ScaleOutFixture
{
    /// <summary>Server connections the pooler opens for the app; the rest of the budget is the direct port's.</summary>
    public const int PoolerServerConnections = 10;

    public PgBouncer Bouncer { get; private set; } = null!;

    protected override async Task BeforeStartAsync()
    {
        await base.BeforeStartAsync();
        Bouncer = await PgBouncer.StartAsync(Cluster, PoolerServerConnections);
    }

    /// <remarks>
    /// The direct port needs 3 per instance at most: the listener, and while migrating at start-up the
    /// advisory lock's session plus DbUp's. 2 x 3 + 10 = 16 of 17.
    /// </remarks>
    protected override void Configure(Dictionary<string, string?> settings)
    {
        // Client connections to the pooler are cheap: 40 per instance queue there, not at PostgreSQL.
        settings[SettingNames.DatabaseConnectionString] = Bouncer.AppConnectionString(maxPoolSize: 40);
        settings[SettingNames.DatabaseDirectConnectionString] = Cluster.AppConnectionString + ";Maximum Pool Size=3";
        settings[SettingNames.AccessTokenCacheSeconds] = ProductionCacheSeconds;
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Bouncer.DisposeAsync();
    }
}

/// <summary>A burst larger than the database's connection budget: every answer is a success or a 503 with Retry-After, and no acknowledged write is lost.</summary>
public abstract class ScaleOutTests<TFixture>(TFixture fixture, ITestOutputHelper output) where TFixture : ScaleOutFixture
{
    private const int CallsPerInstance = 48;
    private const int Rounds = 3;
    private const int SignIns = 6;

    [Fact]
    public async Task BurstOfToolCallsAndSignIns_AcrossTwoInstances_IsAnsweredOr503_AndLosesNoWrite()
    {
        var (tokens, _) = await fixture.SignInAsync("burst-writer");
        var statuses = new ConcurrentDictionary<string, int>();
        var acknowledged = new ConcurrentBag<string>();
        var watch = Stopwatch.StartNew();

        var signIns = Task.WhenAll(Enumerable.Range(0, SignIns).Select(async i =>
        {
            var (signedIn, _) = await fixture.SignInAsync($"burst-signin-{i}");
            return signedIn.AccessToken;
        }));
        for (var round = 0; round < Rounds; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, CallsPerInstance * ScaleOutFixture.Instances).Select(async i =>
            {
                var name = $"Burst {round}-{i}";
                var instance = i % ScaleOutFixture.Instances == 0 ? fixture.Server : fixture.Second;
                using var response = await fixture.SendMcpAsync(tokens.AccessToken, StoreCall(name), instance: instance);
                var text = await response.Content.ReadAsStringAsync();
                var ok = response.StatusCode == HttpStatusCode.OK && !text.Contains("\"isError\":true") && !text.Contains("\"error\"");
                var key = ok ? "200" : $"{(int)response.StatusCode}{(response.Headers.RetryAfter is null ? "" : " Retry-After")}{(text.Contains("isError") ? " tool error" : "")}";
                statuses.AddOrUpdate(key, 1, (_, n) => n + 1);
                if (ok)
                {
                    acknowledged.Add(name);
                }
            }));
        }

        var signedInTokens = await signIns;
        watch.Stop();

        var peak = await fixture.Cluster.AdminScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE usename = 'neotoma_app'");
        output.WriteLine($"{Rounds * CallsPerInstance * ScaleOutFixture.Instances} tool calls and {SignIns} sign-ins in {watch.ElapsedMilliseconds} ms; " +
            $"answers: {string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"))}; app connections at the end: {peak} of {ScaleOutFixture.Budget}");
        Assert.All(statuses.Keys, key => Assert.True(key == "200" || key.StartsWith("503 Retry-After", StringComparison.Ordinal), $"answer {key}"));
        Assert.All(signedInTokens, token => Assert.False(string.IsNullOrEmpty(token)));
        var stored = await fixture.Cluster.AdminScalarAsync<string[]>("SELECT array_agg(canonical_name) FROM entities WHERE user_id = 'burst-writer'") ?? [];
        var lost = acknowledged.Except(stored).ToArray();
        Assert.True(lost.Length == 0, $"{lost.Length} acknowledged writes are missing");
        Assert.True(acknowledged.Count > 0);
    }

    private static string StoreCall(string name) => JsonSerializer.Serialize(new
    {
        jsonrpc = "2.0", id = 1, method = "tools/call",
        @params = new { name = "store", arguments = new { entities = new[] { new { entity_type = "company", name } } } },
    });
}

[Collection("Scale-out")]
public sealed class DirectScaleOutTests(DirectScaleOutFixture fixture, ITestOutputHelper output)
    : ScaleOutTests<DirectScaleOutFixture>(fixture, output), IClassFixture<DirectScaleOutFixture>;

[Collection("Scale-out")]
public sealed class PooledScaleOutTests(PooledScaleOutFixture fixture, ITestOutputHelper output)
    : ScaleOutTests<PooledScaleOutFixture>(fixture, output), IClassFixture<PooledScaleOutFixture>;

/// <summary>One scale-out suite at a time: each runs two instances and a burst on two cores.</summary>
[CollectionDefinition("Scale-out", DisableParallelization = true)]
public sealed class ScaleOutCollection;
