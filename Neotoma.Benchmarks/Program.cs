using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using ModelContextProtocol.Server;
using Neotoma.Core.OAuth;
using Neotoma.Core.Storage;
using Neotoma.Core.Truth;
using Neotoma.Functions.SelfHost;
using Npgsql;

// Neotoma's /mcp on the self-host (bearer token, PostgreSQL, row-level security) against a bare
// ASP.NET Core server with the same MCP SDK (MapMcp, stateless, no auth, one trivial tool).
// Run with `./neotoma bench`, which starts a throwaway PostgreSQL and sets DATABASE_CONNECTION_STRING.
var connectionString = Environment.GetEnvironmentVariable("DATABASE_CONNECTION_STRING")
    ?? throw new InvalidOperationException("DATABASE_CONNECTION_STRING is not set; run ./neotoma bench");
var seconds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_SECONDS"), out var s) ? s : 8;
var rounds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_ROUNDS"), out var r) && r > 0 ? r : 4;
// BENCH_ONLY=retrieve measures the retrieve_entities rows alone (a quick A/B while working on them).
var only = Environment.GetEnvironmentVariable("BENCH_ONLY");

var neotomaPort = FreePort();
var neotoma = SelfHostApplication.Build(["--urls", $"http://127.0.0.1:{neotomaPort}"], builder =>
{
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["DATABASE_CONNECTION_STRING"] = connectionString,
        ["API_BASE"] = $"http://127.0.0.1:{neotomaPort}",
        ["MCP_TOKEN_ENCRYPTION_KEY"] = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
        ["OIDC_ISSUER"] = "http://127.0.0.1:9",
        ["OIDC_CLIENT_ID"] = "bench",
    });
});
await neotoma.StartAsync();
await neotoma.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);

var bare = WebApplication.CreateSlimBuilder();
bare.Logging.SetMinimumLevel(LogLevel.Warning);
var barePort = FreePort();
bare.WebHost.UseUrlsCompat($"http://127.0.0.1:{barePort}");
bare.Services.AddMcpServer().WithHttpTransport(options => options.Stateless = true).WithTools<BareTools>();
var bareApp = bare.Build();
bareApp.MapMcp("/mcp");
await bareApp.StartAsync();

// The same bare server listing Neotoma's 14 tools: separates the cost of a larger tools/list from the cost of auth and hosting.
var sameTools = WebApplication.CreateSlimBuilder();
sameTools.Logging.SetMinimumLevel(LogLevel.Warning);
var sameToolsPort = FreePort();
sameTools.WebHost.UseUrlsCompat($"http://127.0.0.1:{sameToolsPort}");
sameTools.Services.AddMcpServer().WithHttpTransport(options => options.Stateless = true)
    .WithTools<Neotoma.Core.Mcp.IdentityTools>().WithTools<Neotoma.Core.Mcp.TruthTools>();
var sameToolsApp = sameTools.Build();
sameToolsApp.MapMcp("/mcp");
await sameToolsApp.StartAsync();

// A user with a connection and a token minted by the token endpoint's own service, and 100 entities.
var userId = "bench-user";
var database = neotoma.Services.GetRequiredService<NeotomaDatabase>();
await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
{
    await using var insert = new NpgsqlCommand(
        "INSERT INTO mcp_oauth_connections (connection_id, user_id, client_id, client_name) VALUES ('bench', @user, 'bench-client', 'bench') ON CONFLICT DO NOTHING",
        connection, transaction);
    insert.Parameters.AddWithValue("user", userId);
    await insert.ExecuteNonQueryAsync();
}, CancellationToken.None);
var token = (await neotoma.Services.GetRequiredService<TokenService>().MintAsync("bench", "bench-client", userId, CancellationToken.None)).AccessToken;
await neotoma.Services.GetRequiredService<TruthStore>().StoreAsync(userId,
    Enumerable.Range(0, 100).Select(i => new EntityInput
    {
        EntityType = "contact",
        Name = $"Contact {i:000}",
        Fields = System.Text.Json.JsonSerializer.SerializeToElement(new { email = $"c{i}@example.test", company = $"Company {i % 7}", since = "2024-05-01" }),
    }).ToList(), null, null, CancellationToken.None);
// A production table has planner statistics; a freshly filled one has none until autovacuum's next round.
await using (var analyze = neotoma.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("ANALYZE"))
{
    await analyze.ExecuteNonQueryAsync();
}

using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(10) });
const string ToolsList = """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""";
const string Retrieve = """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"retrieve_entities","arguments":{"limit":100}}}""";
const string Echo = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";

Console.WriteLine($"Neotoma /mcp benchmark: {seconds} s per row after 2 s warm-up (tools/list rows in {rounds} interleaved turns), {Environment.ProcessorCount} cores, .NET {Environment.Version}");
var listTargets = new[]
{
    new Target("bare", $"http://127.0.0.1:{barePort}/mcp", null),
    new Target("bare-14", $"http://127.0.0.1:{sameToolsPort}/mcp", null),
    new Target("neotoma", $"http://127.0.0.1:{neotomaPort}/mcp", token),
};

// Warm every path once (JIT, connection pools, PostgreSQL caches) before anything is measured.
foreach (var (target, body) in listTargets.Select(target => (target, ToolsList)).Append((listTargets[2], Retrieve)))
{
    await MeasureAsync(target, body, 4, TimeSpan.FromSeconds(2));
}

foreach (var target in listTargets)
{
    Console.WriteLine($"tools/list response of {target.Name}: {await ResponseBytesAsync(target.Url, target.Bearer, ToolsList)} bytes");
}

Console.WriteLine($"{"target",-10} {"operation",-20} {"clients",7} {"req/s",9} {"p50 ms",8} {"p99 ms",8} {"errors",7}");
var results = new Dictionary<(string, string, int), Result>();
foreach (var clients in new[] { 1, 16 })
{
    if (only is null)
    {
        foreach (var (target, result) in await InTurnsAsync(listTargets, ToolsList, clients))
        {
            results[(target, "tools/list", clients)] = Print(target, "tools/list", clients, result);
        }

        results[("bare", "call echo", clients)] = Print("bare", "call echo", clients,
            await RunAsync(listTargets[0], Echo, clients));
    }

    results[("neotoma", "retrieve_entities", clients)] = Print("neotoma", "retrieve_entities", clients,
        await RunAsync(listTargets[2], Retrieve, clients));
}

foreach (var clients in only is null ? [1, 16] : Array.Empty<int>())
{
    var ratio = results[("neotoma", "tools/list", clients)].RequestsPerSecond / results[("bare", "tools/list", clients)].RequestsPerSecond;
    var sameToolsRatio = results[("neotoma", "tools/list", clients)].RequestsPerSecond / results[("bare-14", "tools/list", clients)].RequestsPerSecond;
    Console.WriteLine($"tools/list throughput neotoma/bare at {clients,2} client(s): {ratio:F2} (target >= 0.90); neotoma/bare-14 (same 14 tools): {sameToolsRatio:F2}");
}

await neotoma.StopAsync();
await bareApp.StopAsync();
await sameToolsApp.StopAsync();
return 0;

// The tools/list targets are measured in turns, `rounds` slices each, so a busy moment of the
// machine falls on all of them alike instead of on whichever happened to be running.
async Task<IEnumerable<(string Target, Result Result)>> InTurnsAsync(Target[] targets, string body, int clients)
{
    var samples = targets.ToDictionary(target => target.Name, _ => new List<Sample>());
    foreach (var target in targets)
    {
        await MeasureAsync(target, body, clients, TimeSpan.FromSeconds(2));
    }

    for (var round = 0; round < rounds; round++)
    {
        foreach (var target in targets)
        {
            samples[target.Name].Add(await MeasureAsync(target, body, clients, TimeSpan.FromSeconds((double)seconds / rounds)));
        }
    }

    return targets.Select(target => (target.Name, Summarize(samples[target.Name])));
}

async Task<Result> RunAsync(Target target, string body, int clients)
{
    await MeasureAsync(target, body, clients, TimeSpan.FromSeconds(2));
    return Summarize([await MeasureAsync(target, body, clients, TimeSpan.FromSeconds(seconds))]);
}

async Task<Sample> MeasureAsync(Target target, string body, int clients, TimeSpan duration)
{
    async Task<List<double>> Worker(DateTime until, int[] errors)
    {
        var latencies = new List<double>();
        while (DateTime.UtcNow < until)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, target.Url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Accept.ParseAdd("application/json");
            request.Headers.Accept.ParseAdd("text/event-stream");
            request.Headers.Add("MCP-Protocol-Version", "2025-06-18");
            if (target.Bearer is not null)
            {
                request.Headers.Authorization = new("Bearer", target.Bearer);
            }

            var started = Stopwatch.GetTimestamp();
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (response.StatusCode != HttpStatusCode.OK || text.Contains("\"isError\":true") || text.Contains("\"error\""))
            {
                Interlocked.Increment(ref errors[0]);
            }
        }

        return latencies;
    }

    var errors = new int[1];
    var wall = Stopwatch.StartNew();
    var until = DateTime.UtcNow + duration;
    var latencies = (await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Worker(until, errors)))).SelectMany(l => l).ToList();
    return new Sample(latencies, wall.Elapsed.TotalSeconds, errors[0]);
}

static Result Summarize(IReadOnlyCollection<Sample> samples)
{
    var all = samples.SelectMany(sample => sample.Latencies).Order().ToArray();
    return new Result(all.Length / samples.Sum(sample => sample.Seconds), Percentile(all, 0.50), Percentile(all, 0.99), samples.Sum(sample => sample.Errors));
}

static Result Print(string target, string operation, int clients, Result result)
{
    Console.WriteLine($"{target,-10} {operation,-20} {clients,7} {result.RequestsPerSecond,9:F0} {result.P50,8:F2} {result.P99,8:F2} {result.Errors,7}");
    return result;
}

async Task<int> ResponseBytesAsync(string url, string? bearer, string body)
{
    using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    request.Headers.Accept.ParseAdd("application/json");
    request.Headers.Accept.ParseAdd("text/event-stream");
    if (bearer is not null)
    {
        request.Headers.Authorization = new("Bearer", bearer);
    }

    using var response = await http.SendAsync(request);
    return (await response.Content.ReadAsByteArrayAsync()).Length;
}

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

static int FreePort()
{
    using var listener = new TcpListener(IPAddress.Loopback, 0);
    listener.Start();
    return ((IPEndPoint)listener.LocalEndpoint).Port;
}

internal sealed record Result(double RequestsPerSecond, double P50, double P99, int Errors);

internal sealed record Sample(List<double> Latencies, double Seconds, int Errors);

internal sealed record Target(string Name, string Url, string? Bearer);

[McpServerToolType]
internal sealed class BareTools
{
    [McpServerTool(Name = "echo"), Description("Echoes the text.")]
    public static string Echo(string text) => text;
}

internal static class WebHostExtensions
{
    public static void UseUrlsCompat(this Microsoft.AspNetCore.Builder.ConfigureWebHostBuilder host, string url) =>
        Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(host, url);
}
