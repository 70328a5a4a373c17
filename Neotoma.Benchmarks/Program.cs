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
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Truth;
using Neotoma.Functions.SelfHost;
using Npgsql;
using Neotoma.TestSupport;

// Neotoma's /mcp on the self-host (bearer token, PostgreSQL, row-level security) against a bare
// ASP.NET Core server with the same MCP SDK (MapMcp, stateless, no auth, one trivial tool).
// Run with `./neotoma bench`, which starts a throwaway PostgreSQL and sets DATABASE_CONNECTION_STRING.
var connectionString = Environment.GetEnvironmentVariable("DATABASE_CONNECTION_STRING")
    ?? throw new InvalidOperationException("DATABASE_CONNECTION_STRING is not set; run ./neotoma bench");
// `serve <reference> <port>`: one of the reference servers alone in this process, for the rows that
// measure servers in processes of their own (the wrk group starts it so).
if (args is ["serve", var reference, var servePort])
{
    var (served, _) = await StartSdkServerAsync(ReferenceServer(reference, connectionString), int.Parse(servePort, System.Globalization.CultureInfo.InvariantCulture));
    await Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(served);
    return 0;
}

ChildProcess.EndOnSignals();
var seconds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_SECONDS"), out var s) ? s : 8;
var rounds = int.TryParse(Environment.GetEnvironmentVariable("BENCH_ROUNDS"), out var r) && r > 0 ? r : 4;
// Rows measured outside this process report medians of their slices: at least 3 of them.
var outsideTurns = Math.Max(3, rounds);
// BENCH_ONLY=wrk,allocations,calls,retrieve,store,list,oauth,cleanup,scale,soak (any of them) measures those groups alone; scale and soak run only when named.
// `./neotoma bench scale` names the groups as arguments, the same as BENCH_ONLY=scale.
var only = args.Length > 0 ? string.Join(',', args) : Environment.GetEnvironmentVariable("BENCH_ONLY");

var neotomaPort = FreePorts.Next();
// The bare server also plays the upstream provider's discovery (no sign-in happens in the bench:
// /initiate only builds the provider's authorize URL from it).
var barePort = FreePorts.Next();
// The app's own logging defaults, as `./neotoma up` and Azure run it; rate limits off (every request comes from one address).
var encryptionKey = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
var neotoma = SelfHostApplication.Build(["--urls", $"http://127.0.0.1:{neotomaPort}"], builder =>
{
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["RATE_LIMIT_TOKEN_PER_MINUTE"] = "0",
        ["RATE_LIMIT_INITIATE_PER_MINUTE"] = "0",
        ["RATE_LIMIT_REGISTER_PER_MINUTE"] = "0",
        ["RATE_LIMIT_CALLBACK_PER_MINUTE"] = "0",
        ["DATABASE_CONNECTION_STRING"] = connectionString,
        ["API_BASE"] = $"http://127.0.0.1:{neotomaPort}",
        ["MCP_TOKEN_ENCRYPTION_KEY"] = encryptionKey,
        ["OIDC_ISSUER"] = $"http://127.0.0.1:{barePort}",
        ["OIDC_CLIENT_ID"] = "bench",
    });
});
await neotoma.StartAsync();
await neotoma.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);

var bare = WebApplication.CreateSlimBuilder();
bare.Logging.SetMinimumLevel(LogLevel.Warning);
bare.WebHost.UseUrlsCompat($"http://127.0.0.1:{barePort}");
ReferenceServer("bare", connectionString)(bare.Services);
var bareApp = bare.Build();
bareApp.MapMcp("/mcp");
var upstream = $"http://127.0.0.1:{barePort}";
bareApp.MapGet("/.well-known/openid-configuration", () => Microsoft.AspNetCore.Http.Results.Json(new Dictionary<string, object>
{
    ["issuer"] = upstream, ["authorization_endpoint"] = upstream + "/authorize", ["token_endpoint"] = upstream + "/token",
    ["jwks_uri"] = upstream + "/jwks", ["response_types_supported"] = new[] { "code" }, ["subject_types_supported"] = new[] { "public" },
    ["id_token_signing_alg_values_supported"] = new[] { "RS256" }, ["code_challenge_methods_supported"] = new[] { "S256" },
}));
// The provider's side of a sign-in, as small as a provider can be: the bench's "person" signs in
// by handing the callback a code that is the sign-in's nonce, and /token answers with an ID token
// carrying it, signed with a key published at /jwks.
var upstreamKey = new Microsoft.IdentityModel.Tokens.RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048)) { KeyId = "bench" };
var upstreamJwk = Microsoft.IdentityModel.Tokens.JsonWebKeyConverter.ConvertFromRSASecurityKey(upstreamKey);
bareApp.MapGet("/jwks", () => Microsoft.AspNetCore.Http.Results.Json(new
{
    keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = upstreamJwk.Kid, n = upstreamJwk.N, e = upstreamJwk.E } },
}));
bareApp.MapPost("/token", async (Microsoft.AspNetCore.Http.HttpRequest request) =>
{
    var form = await request.ReadFormAsync();
    var nonce = form["code"].ToString();
    var idToken = new Microsoft.IdentityModel.JsonWebTokens.JsonWebTokenHandler().CreateToken(new Microsoft.IdentityModel.Tokens.SecurityTokenDescriptor
    {
        Issuer = upstream,
        Audience = "bench",
        Expires = DateTime.UtcNow.AddMinutes(5),
        Claims = new Dictionary<string, object> { ["sub"] = "bench-signin", ["nonce"] = nonce, ["email"] = "signin@example.test" },
        SigningCredentials = new Microsoft.IdentityModel.Tokens.SigningCredentials(upstreamKey, "RS256"),
    });
    return Microsoft.AspNetCore.Http.Results.Json(new Dictionary<string, object>
    {
        ["access_token"] = OpaqueToken.New(32), ["token_type"] = "Bearer", ["expires_in"] = 3600,
        ["refresh_token"] = OpaqueToken.New(32), ["id_token"] = idToken,
    });
});
await bareApp.StartAsync();

var (sameToolsApp, sameToolsPort) = await StartSdkServerAsync(ReferenceServer("bare-14", connectionString));
var (echo15App, echo15Port) = await StartSdkServerAsync(ReferenceServer("bare-15", connectionString));
var (simpleApp, simplePort) = await StartSdkServerAsync(ReferenceServer("simple", connectionString));

// A user with a connection, a token from the token endpoint (a code redeemed as a client does), and 100 entities.
var userId = "bench-user";
var database = neotoma.Services.GetRequiredService<NeotomaDatabase>();
await CreateConnectionsAsync(["bench"]);
using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 64, PooledConnectionLifetime = TimeSpan.FromMinutes(10) });
var token = (await IssueTokensAsync("bench")).Access;
await neotoma.Services.GetRequiredService<TruthStore>().StoreAsync(userId,
    Enumerable.Range(0, 100).Select(i => new EntityInput
    {
        EntityType = "contact",
        Name = $"Contact {i:000}",
        Fields = new Dictionary<string, System.Text.Json.JsonElement>
        {
            ["email"] = System.Text.Json.JsonSerializer.SerializeToElement($"c{i}@example.test"),
            ["company"] = System.Text.Json.JsonSerializer.SerializeToElement($"Company {i % 7}"),
            ["since"] = System.Text.Json.JsonSerializer.SerializeToElement("2024-05-01"),
        },
    }).ToList(), null, null, CancellationToken.None);
// A production table has planner statistics; a freshly filled one has none until autovacuum's next round.
await using (var analyze = neotoma.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("ANALYZE"))
{
    await analyze.ExecuteNonQueryAsync();
}

const string CodeVerifier = "bench-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const string SearchLookupSql = "SELECT entity_id FROM entity_search WHERE user_id = current_setting('neotoma.user_id', true) " +
    "AND haystack LIKE '%' || @lookup || '%' AND (@lookup = @search OR haystack LIKE '%' || @search || '%')";
const string ToolsList = """{"jsonrpc":"2.0","id":1,"method":"tools/list"}""";
const string Retrieve = """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"retrieve_entities","arguments":{"limit":100}}}""";
const string Echo = """{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}""";
const string WhoAmI = """{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_authenticated_user","arguments":{}}}""";
var neotomaUrl = $"http://127.0.0.1:{neotomaPort}/mcp";
var bareUrl = $"http://127.0.0.1:{barePort}/mcp";
var groups = (only ?? "wrk,allocations,calls,retrieve,store,list,oauth,cleanup").Split(',', StringSplitOptions.TrimEntries);

Console.WriteLine($"Neotoma benchmark: {seconds} s per row after 2 s warm-up, rows of a comparison in {rounds} interleaved turns, " +
    $"{Environment.ProcessorCount} cores, .NET {Environment.Version}, load generator in the same process");
Console.WriteLine($"{"target",-10} {"operation",-32} {"clients",7} {"req/s",9} {"p50 ms",8} {"p95 ms",8} {"p99 ms",8} {"errors",7} {"peak MB",8}");
var summary = new List<string>();

if (groups.Contains("wrk"))
{
    // Issue 26's deciding numbers. The app in its own process as `./neotoma up` runs it (the built
    // Neotoma.Functions.dll, `selfhost`, its own logging and runtime settings), loaded over HTTP by wrk,
    // a load generator that is not .NET; each reference in a process of its own with the app's runtime
    // settings (the app's build keeps the workstation GC; the bench's own asks for the server GC); the
    // database's floor through pgbench, prepared. Rows of a comparison alternate, `rounds` slices each;
    // a row's numbers are the medians of its slices.
    var appDll = Environment.GetEnvironmentVariable("NEOTOMA_APP_DLL")
        ?? throw new InvalidOperationException("NEOTOMA_APP_DLL is not set; run ./neotoma bench");
    var pgbench = Path.Combine(Environment.GetEnvironmentVariable("NEOTOMA_PG_BIN") ?? "/usr/bin", "pgbench");
    var work = Directory.CreateTempSubdirectory("neotoma-bench-").FullName;
    var appPort = FreePorts.Next();
    var appOrigin = $"http://127.0.0.1:{appPort}";
    var appEnvironment = new Dictionary<string, string>
    {
        ["DATABASE_CONNECTION_STRING"] = connectionString, ["API_BASE"] = appOrigin, ["MCP_TOKEN_ENCRYPTION_KEY"] = encryptionKey,
        ["OIDC_ISSUER"] = upstream, ["OIDC_CLIENT_ID"] = "bench",
    };
    var referenceEnvironment = new Dictionary<string, string> { ["DATABASE_CONNECTION_STRING"] = connectionString, ["DOTNET_gcServer"] = "0" };
    var benchDll = typeof(BareTools).Assembly.Location;
    ChildProcess StartApp() => ChildProcess.Start(["dotnet", appDll, "selfhost", "--urls", appOrigin], appEnvironment, Path.Combine(work, "app.log"));
    ChildProcess StartReference(string name, int port) => ChildProcess.Start(["dotnet", benchDll, "serve", name, port.ToString(System.Globalization.CultureInfo.InvariantCulture)],
        referenceEnvironment, Path.Combine(work, name + ".log"));
    // Milliseconds from `started` to the first call answered in full (connection refused until the server listens).
    async Task<double> FirstAnswerAsync(ChildProcess server, Func<Task<bool>> call, long started)
    {
        while (true)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"a server the bench started exited; its output: {server.Log}");
            }

            try
            {
                if (await call())
                {
                    return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (Stopwatch.GetElapsedTime(started) > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"a server the bench started did not answer within a minute; its output: {server.Log}");
            }

            await Task.Delay(5);
        }
    }

    var appUrl = appOrigin + "/mcp";
    var simplePortOut = FreePorts.Next();
    var simpleUrl = $"http://127.0.0.1:{simplePortOut}/mcp";
    string appToken;
    await CreateConnectionsAsync(["bench-wrk"]);
    await using (var first = StartApp())
    {
        await FirstAnswerAsync(first, async () => (await http.GetAsync(appOrigin + "/api/health")).IsSuccessStatusCode, Stopwatch.GetTimestamp());
        appToken = (await IssueTokensAsync("bench-wrk", appOrigin)).Access;
    }

    // Cold start: from starting the process to the first retrieve_entities(100) answered in full, the
    // app (its token checked against the database on the first call) beside the simplest SDK tool's server.
    var coldApp = new List<double>();
    var coldSimple = new List<double>();
    for (var turn = 0; turn < outsideTurns; turn++)
    {
        var started = Stopwatch.GetTimestamp();
        await using (var app = StartApp())
        {
            coldApp.Add(await FirstAnswerAsync(app, Http(appUrl, appToken, Retrieve), started));
        }

        started = Stopwatch.GetTimestamp();
        await using (var simpleServer = StartReference("simple", simplePortOut))
        {
            coldSimple.Add(await FirstAnswerAsync(simpleServer, Http(simpleUrl, null, Retrieve), started));
        }
    }

    var coldLine = $"cold start to the first answered retrieve_entities(100), median of {coldApp.Count}: neotoma {Median(coldApp):F0} ms, " +
        $"simplest SDK server {Median(coldSimple):F0} ms (its time / Neotoma's: {Median(coldSimple) / Median(coldApp):F2})";
    Console.WriteLine(coldLine);
    summary.Add(coldLine);

    var barePortOut = FreePorts.Next();
    var bareUrlOut = $"http://127.0.0.1:{barePortOut}/mcp";
    await using var appServer = StartApp();
    await using var bareServer = StartReference("bare", barePortOut);
    var identityPortOut = FreePorts.Next();
    var identityUrl = $"http://127.0.0.1:{identityPortOut}/mcp";
    await using var identityServer = StartReference("identity", identityPortOut);
    await using var simpleServerOut = StartReference("simple", simplePortOut);
    await FirstAnswerAsync(appServer, Http(appUrl, appToken, WhoAmI), Stopwatch.GetTimestamp());
    await FirstAnswerAsync(bareServer, Http(bareUrlOut, null, Echo), Stopwatch.GetTimestamp());
    await FirstAnswerAsync(identityServer, Http(identityUrl, null, WhoAmI), Stopwatch.GetTimestamp());
    await FirstAnswerAsync(simpleServerOut, Http(simpleUrl, null, Retrieve), Stopwatch.GetTimestamp());
    // The tool's first page of 100 asks for 101 rows (one more says whether a next page exists). Its
    // parameters go as the statement's parameters, but for the type: pgbench cannot send a NULL
    // parameter (a NULL variable arrives as ''), so the statement has the literal NULL there.
    var floorScript = Pgbench.Script(userId, TruthStore.EntityPages.For(ofType: false),
        new Dictionary<string, string> { ["includeDeleted"] = ":includeDeleted", ["type"] = "NULL::text", ["limit"] = ":limit" },
        new Dictionary<string, string> { ["includeDeleted"] = "false", ["limit"] = "101" });

    Console.WriteLine($"-- over HTTP with wrk (1 thread), every server in its own process; then the server's RSS (MB) after the row and its CPU time per answer (µs, user and system)");
    async Task<OutsideSample[]> OutsideInTurnsAsync((string Target, string Name, ChildProcess? Server, Func<int, TimeSpan, Task<OutsideSample>> Measure)[] compared, int clients)
    {
        var slices = await AlternatingAsync(compared.Length, async (i, duration) =>
        {
            var before = compared[i].Server?.CpuTime();
            var sample = await compared[i].Measure(clients, duration);
            return compared[i].Server is { } server && sample.Requests > sample.Errors
                ? sample with { ServerCpuMicroseconds = (server.CpuTime() - before!.Value).TotalMicroseconds / (sample.Requests - sample.Errors) }
                : sample;
        }, outsideTurns, TimeSpan.FromSeconds(Math.Max(2.0, (double)seconds / rounds)));

        // A row's outcome: the medians of its slices' rates of answers without error (as requests in one
        // second) and of their percentiles, and the errors of all slices.
        return compared.Select((row, i) =>
        {
            var median = new OutsideSample((long)Math.Round(Median(slices[i].Select(slice => slice.PerSecond))), 1, slices[i].Sum(slice => slice.Errors),
                Median(slices[i].Select(slice => slice.P50)), Median(slices[i].Select(slice => slice.P95)), Median(slices[i].Select(slice => slice.P99)))
            {
                ServerCpuMicroseconds = Median(slices[i].Select(slice => slice.ServerCpuMicroseconds)),
            };
            Console.WriteLine($"{row.Target,-10} {row.Name,-32} {clients,7} {median.Requests,9} {median.P50,8:F2} {median.P95,8:F2} {median.P99,8:F2} {median.Errors,7} " +
                $"{(row.Server is { } server ? server.ResidentMegabytes().ToString(System.Globalization.CultureInfo.InvariantCulture) : "-"),8} {median.ServerCpuMicroseconds,8:F0}");
            return median;
        }).ToArray();
    }

    foreach (var clients in new[] { 1, 16 })
    {
        var calls = await OutsideInTurnsAsync([
            ("bare", "tools/call echo", bareServer, (c, d) => Wrk.RunAsync(bareUrlOut, null, Echo, c, d, work)),
            ("sdk", "get_authenticated_user, SDK alone", identityServer, (c, d) => Wrk.RunAsync(identityUrl, null, WhoAmI, c, d, work)),
            ("neotoma", "tools/call get_authenticated_user", appServer, (c, d) => Wrk.RunAsync(appUrl, appToken, WhoAmI, c, d, work))], clients);
        var (echo, alone, app) = (calls[0], calls[1], calls[2]);
        var clean = calls.All(row => row.Errors == 0);
        summary.Add(Ratio("wrk: get_authenticated_user / bare echo", Outcome(app), Outcome(echo), clients, ">= 0.90", 0.90, clean));
        // The distance split in two: the tool's answer on the SDK alone, and Neotoma's own path around it.
        var splitLine = $"wrk: at {clients,2} client(s), the identity tool on the SDK alone / bare echo {alone.Requests / (double)echo.Requests:F2}, " +
            $"Neotoma / the identity tool on the SDK alone {app.Requests / (double)alone.Requests:F2}";
        Console.WriteLine(splitLine);
        summary.Add(splitLine);
        var cpuLine = $"wrk: server CPU per answer at {clients,2} client(s): get_authenticated_user {app.ServerCpuMicroseconds:F0} µs, " +
            $"the same on the SDK alone {alone.ServerCpuMicroseconds:F0} µs, bare echo {echo.ServerCpuMicroseconds:F0} µs " +
            $"({app.ServerCpuMicroseconds - echo.ServerCpuMicroseconds:F0} µs more than the echo, {app.ServerCpuMicroseconds - alone.ServerCpuMicroseconds:F0} µs of them Neotoma's own)";
        Console.WriteLine(cpuLine);
        summary.Add(cpuLine);
        if (clients == 16)
        {
            var line = $"wrk: get_authenticated_user p99 / bare echo p99 at 16 client(s): {app.P99 / echo.P99:F2} " +
                $"({app.P99:F2} ms / {echo.P99:F2} ms; target <= 1.2: {(app.P99 <= 1.2 * echo.P99 && clean ? "met" : "NOT met")})";
            Console.WriteLine(line);
            summary.Add(line);
        }
    }

    foreach (var clients in new[] { 1, 16 })
    {
        var reads = await OutsideInTurnsAsync([
            ("pgbench", "retrieve (prepared, pipelined)", null, (c, d) => Pgbench.RunAsync(pgbench, connectionString, floorScript, c, d, work)),
            ("simple", "simplest SDK tool, same SQL (100)", simpleServerOut, (c, d) => Wrk.RunAsync(simpleUrl, null, Retrieve, c, d, work)),
            ("neotoma", "tools/call retrieve_entities(100)", appServer, (c, d) => Wrk.RunAsync(appUrl, appToken, Retrieve, c, d, work))], clients);
        var clean = reads.All(row => row.Errors == 0);
        summary.Add(Ratio("wrk: retrieve_entities / simplest SDK tool", Outcome(reads[2]), Outcome(reads[1]), clients, ">= 1.2", 1.2, clean));
        var floorLine = $"wrk: retrieve_entities / pgbench floor at {clients,2} client(s): {reads[2].Requests / (double)reads[0].Requests:F2}" +
            (clients == 16 ? $" (target >= 0.40: {(reads[2].Requests >= 0.40 * reads[0].Requests && clean ? "met" : "NOT met")})" : " (no target at 1 client)");
        Console.WriteLine(floorLine);
        summary.Add(floorLine);
    }

    var memory = $"app RSS after the wrk rows: {appServer.ResidentMegabytes()} MB (target <= 200 MB: {(appServer.ResidentMegabytes() <= 200 ? "met" : "NOT met")}); " +
        $"bare echo server {bareServer.ResidentMegabytes()} MB, simplest SDK server {simpleServerOut.ResidentMegabytes()} MB";
    Console.WriteLine(memory);
    summary.Add(memory);
    Directory.Delete(work, recursive: true);
}

if (groups.Contains("allocations"))
{
    // Allocations per call, server side alone: wrk loads this process's own servers (the self-host and the
    // bare echo, idle otherwise), and this process's allocated bytes over a slice, divided by its calls.
    var work = Directory.CreateTempSubdirectory("neotoma-bench-").FullName;
    var allocationRows = new (string Url, string? Bearer, string Body)[]
    {
        (bareUrl, null, Echo), ($"http://127.0.0.1:{echo15Port}/mcp", null, Echo), (neotomaUrl, token, WhoAmI),
    };
    var slices = await AlternatingAsync(allocationRows.Length, async (i, duration) =>
    {
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var slice = await Wrk.RunAsync(allocationRows[i].Url, allocationRows[i].Bearer, allocationRows[i].Body, 16, duration, work);
        return (Bytes: (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)slice.Requests, slice.Errors);
    }, outsideTurns, TimeSpan.FromSeconds(2));
    var failed = slices.Sum(row => row.Sum(slice => slice.Errors));
    var allocated = slices.Select(row => row.Select(slice => slice.Bytes).ToList()).ToArray();
    var (bareBytes, echo15Bytes, neotomaBytes) = (Median(allocated[0]), Median(allocated[1]), Median(allocated[2]));
    var allocationLine = $"allocated per call, server side (median of {allocated[0].Count} slices at 16 connections): get_authenticated_user {neotomaBytes / 1024:F1} KB, " +
        $"bare echo {bareBytes / 1024:F1} KB (echo among the same 15 tools {echo15Bytes / 1024:F1} KB), ratio {neotomaBytes / bareBytes:F2} " +
        $"(target <= 1.10: {(neotomaBytes <= 1.10 * bareBytes && failed == 0 ? "met" : "NOT met")}), {failed} errors";
    Console.WriteLine(allocationLine);
    summary.Add(allocationLine);
    Directory.Delete(work, recursive: true);
}

if (groups.Contains("calls"))
{
    foreach (var clients in new[] { 1, 16 })
    {
        var rows = await InTurnsAsync([new("bare", "tools/call echo", Http(bareUrl, null, Echo)),
            new("bare-15", "tools/call echo (among 15 tools)", Http($"http://127.0.0.1:{echo15Port}/mcp", null, Echo)),
            new("neotoma", "tools/call get_authenticated_user", Http(neotomaUrl, token, WhoAmI))], clients);
        summary.Add(Ratio("get_authenticated_user / bare echo", rows[2], rows[0], clients, ">= 0.90", 0.90));
        var share = $"get_authenticated_user / echo among the same 15 tools at {clients,2} client(s): {rows[2].RequestsPerSecond / rows[1].RequestsPerSecond:F2} " +
            $"(Neotoma's own share; the 15-tool echo over the 1-tool one, {rows[1].RequestsPerSecond / rows[0].RequestsPerSecond:F2}, is what more tools cost the SDK per request)";
        Console.WriteLine(share);
        summary.Add(share);
    }
}

if (groups.Contains("retrieve"))
{
    // The database's floor: the very statement of retrieve_entities, prepared, as the app role with the
    // user setting in the same round trip, every column read; no HTTP, no MCP, no JSON.
    var floor = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64 }.ConnectionString);
    async Task<bool> Floor()
    {
        await using var connection = await floor.OpenConnectionAsync();
        await using var batch = new NpgsqlBatch(connection);
        var scope = new NpgsqlBatchCommand("SELECT set_config('neotoma.user_id', $1, true)");
        scope.Parameters.Add(new NpgsqlParameter { Value = userId });
        var query = new NpgsqlBatchCommand(TruthStore.EntityPages.For(ofType: false));
        query.Parameters.AddWithValue("includeDeleted", false);
        query.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
        query.Parameters.Add(new NpgsqlParameter("search", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
        query.Parameters.AddWithValue("limit", 100);
        query.Parameters.AddWithValue("offset", 0);
        batch.BatchCommands.Add(scope);
        batch.BatchCommands.Add(query);
        await using var reader = await batch.ExecuteReaderAsync();
        await reader.NextResultAsync();
        var rows = 0;
        var values = new object[9];
        while (await reader.ReadAsync())
        {
            reader.GetValues(values);
            rows++;
        }

        return rows == 100;
    }

    foreach (var clients in new[] { 1, 16 })
    {
        var rows = await InTurnsAsync([new("floor", "retrieve statement (prepared)", Floor),
            new("simple", "simplest SDK tool, same SQL (100)", Http($"http://127.0.0.1:{simplePort}/mcp", null, Retrieve)),
            new("neotoma", "tools/call retrieve_entities(100)", Http(neotomaUrl, token, Retrieve))], clients);
        summary.Add(Ratio("retrieve_entities / simplest SDK tool", rows[2], rows[1], clients, ">= 1.2", 1.2));
        rows = [rows[0], rows[2]];
        // Issue 26's target replaces the earlier ">= 0.60 of the floor": >= 0.40 of the database's floor at 16
        // clients (the deciding floor is pgbench -M prepared against ./neotoma up; this prepared Npgsql floor
        // in the same process is the second view); at 1 client the ratio is printed without a target.
        if (clients == 16)
        {
            summary.Add(Ratio("retrieve_entities / database floor", rows[1], rows[0], clients, ">= 0.40", 0.40));
        }
        else
        {
            var line = $"retrieve_entities / database floor at  1 client(s): {rows[1].RequestsPerSecond / rows[0].RequestsPerSecond:F2} (no target at 1 client)";
            Console.WriteLine(line);
            summary.Add(line);
        }
    }
}

if (groups.Contains("store"))
{
    var stored = 0;
    foreach (var clients in new[] { 1, 16 })
    {
        await RunAsync(new("neotoma", "tools/call store(10 entities)", HttpEach(neotomaUrl, token, () =>
        {
            var batch = Interlocked.Increment(ref stored);
            var entities = string.Join(',', Enumerable.Range(0, 10).Select(i => $$$"""{"entity_type":"lead","name":"Lead {{{batch}}}-{{{i}}}","fields":{"stage":"new"}}"""));
            return """{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"store","arguments":{"entities":[""" + entities + "]}}}";
        })), clients);
    }
}

if (groups.Contains("list"))
{
    foreach (var clients in new[] { 1, 16 })
    {
        await InTurnsAsync([new("bare", "tools/list (1 tool)", Http(bareUrl, null, ToolsList)),
            new("bare-14", "tools/list (same 14 tools)", Http($"http://127.0.0.1:{sameToolsPort}/mcp", null, ToolsList)),
            new("neotoma", "tools/list", Http(neotomaUrl, token, ToolsList))], clients);
    }
}

if (groups.Contains("oauth"))
{
    // Rate limits are off in the bench only (RATE_LIMIT_*=0 above). One connection per worker, its
    // upstream session fresh, so a refresh is Neotoma's own work (no upstream call), as it is for
    // every refresh but the one an hour that renews the upstream token. Each connection is its own
    // client (one active connection per user and client), named like the connection.
    var tokenUrl = $"http://127.0.0.1:{neotomaPort}/api/mcp/oauth/token";
    var connections = await CreateConnectionsAsync(Enumerable.Range(0, 16).Select(i => $"bench-oauth-{i}").ToArray());
    foreach (var clients in new[] { 1, 16 })
    {
        // One refresh chain per worker, as each client refreshes its own token: a worker takes a chain,
        // spends its token and puts back the new one, so no token is ever used twice.
        var chains = new System.Collections.Concurrent.ConcurrentQueue<(string Client, string Refresh)>();
        for (var i = 0; i < clients; i++)
        {
            chains.Enqueue((connections[i], (await IssueTokensAsync(connections[i])).Refresh));
        }

        await RunAsync(new("neotoma", "token: refresh_token grant", async () =>
        {
            chains.TryDequeue(out var chain);
            using var response = await http.PostAsync(tokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "refresh_token", ["refresh_token"] = chain.Refresh, ["client_id"] = chain.Client,
            }));
            using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            chains.Enqueue(response.IsSuccessStatusCode ? (chain.Client, body.RootElement.GetProperty("refresh_token").GetString()!) : chain);
            return response.IsSuccessStatusCode;
        }), clients);

        await RunAsync(new("neotoma", "initiate: consent Approve", await ConsentApproveAsync()), clients);

        var steps = new System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<double>>();
        var signIn = await RunAsync(new("neotoma", "sign-in: register … token", () => SignInAsync(steps)), clients);
        foreach (var (step, latencies) in steps.OrderBy(step => Array.IndexOf(SignInSteps, step.Key)))
        {
            var sorted = latencies.Order().ToArray();
            Console.WriteLine($"{"",-10} {"  " + step,-32} {clients,7} {"",9} {Percentile(sorted, 0.50),8:F2} {Percentile(sorted, 0.95),8:F2} {Percentile(sorted, 0.99),8:F2}");
        }

        var line = $"sign-in round trip (5 requests, the provider's code exchange included) at {clients,2} client(s): p50 {signIn.P50:F1} ms, p95 {signIn.P95:F1} ms " +
            $"(target <= 50 ms{(clients == 1 ? $": {(signIn.P95 <= 50 ? "met" : "NOT met")}" : ", at 1 client")})";
        Console.WriteLine(line);
        summary.Add(line);

        var codes = await CreateCodesAsync(connections, 20_000);
        var taken = -1;
        await RunAsync(new("neotoma", "token: authorization_code", async () =>
        {
            var n = Interlocked.Increment(ref taken);
            var code = codes[n];
            using var response = await http.PostAsync(tokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "authorization_code", ["code"] = code, ["client_id"] = connections[n % connections.Length],
                ["redirect_uri"] = "http://127.0.0.1:9/cb", ["code_verifier"] = CodeVerifier,
            }));
            return response.IsSuccessStatusCode;
        }), clients);
    }
}

if (groups.Contains("cleanup"))
{
    const int expired = 1_000_000;
    var fill = Stopwatch.StartNew();
    // A million expired rows cannot come through the product's own path in reasonable time, and a bulk
    // insert in the product would exist for the bench alone: this is the one table the bench fills itself.
    await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
    {
        await using var insert = new NpgsqlCommand("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, created_at, expires_at)
            SELECT 'bench-' || g, 'bench', 'v', 'n', now() - interval '1 hour', now() - interval '50 minutes' FROM generate_series(1, @n) g
            """, connection, transaction) { CommandTimeout = 600 };
        insert.Parameters.AddWithValue("n", expired);
        await insert.ExecuteNonQueryAsync();
    }, CancellationToken.None);
    var report = await neotoma.Services.GetRequiredService<Neotoma.Core.Maintenance.StateCleanupService>().RunAsync(CancellationToken.None);
    var line = $"cleanup of {expired:N0} expired states (filled in {fill.Elapsed.TotalSeconds - report.Elapsed.TotalSeconds:F1} s): " +
        $"{report.Elapsed.TotalSeconds:F1} s in all, longest batch (the longest any row lock is held) {report.LongestBatch.TotalMilliseconds:F0} ms " +
        $"(target <= 100 ms: {(report.LongestBatch.TotalMilliseconds <= 100 ? "met" : "NOT met")}); peak {PeakMegabytes()} MB";
    Console.WriteLine(line);
    summary.Add(line);
}

if (groups.Contains("soak"))
{
    // Issue 26: people using it for a long time while one person's data grows. Requests start on a
    // fixed schedule (BENCH_SOAK_RATE a second, default 150, for BENCH_SOAK_MINUTES, default 20), whether
    // or not earlier ones have been answered, so a slow server meets the same load rather than a
    // smaller one, and each latency counts from the request's scheduled start. The mix: 60 %
    // get_authenticated_user, 30 % retrieve_entities(limit 20), 10 % store (3 new contacts each, so the
    // person gains 45 entities a second); every 20 s the client rotates its refresh token (and uses the
    // new access token from then on), and another client signs in and revokes its sign-in, whose
    // access token must then be refused.
    var minutes = double.TryParse(Environment.GetEnvironmentVariable("BENCH_SOAK_MINUTES"), System.Globalization.CultureInfo.InvariantCulture, out var m) && m > 0 ? m : 20;
    var rate = int.TryParse(Environment.GetEnvironmentVariable("BENCH_SOAK_RATE"), out var perSecond) && perSecond > 0 ? perSecond : 150;
    var tokenUrl = $"http://127.0.0.1:{neotomaPort}/api/mcp/oauth/token";
    var revokeUrl = $"http://127.0.0.1:{neotomaPort}/api/mcp/oauth/revoke";
    await CreateConnectionsAsync(["bench-soak"]);
    var (access, refresh) = await IssueTokensAsync("bench-soak");
    var buckets = Enumerable.Range(0, (int)Math.Ceiling(minutes) + 1).Select(_ => new System.Collections.Concurrent.ConcurrentBag<double>()).ToArray();
    var failures = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
    var warmUpFailures = 0;
    var rotations = 0;
    var rss = new List<long>();
    var stored = 0;
    var clock = Stopwatch.StartNew();
    // 15 s of the same load first, not counted: the first minute is the baseline of "p99 within 2x",
    // and compiling the code paths would otherwise make it look slow.
    var warmUp = TimeSpan.FromSeconds(15);
    var end = warmUp + TimeSpan.FromMinutes(minutes);

    async Task<string?> SoakCallAsync(string body)
    {
        try
        {
            using var request = McpPost(neotomaUrl, Volatile.Read(ref access), body);
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return response.StatusCode != HttpStatusCode.OK ? $"HTTP {(int)response.StatusCode}"
                : text.Contains("\"isError\":true") ? "tool error: " + (text.Length > 160 ? text[..160] : text)
                : text.Contains("\"error\"") ? "JSON-RPC error"
                : !text.Contains("\"result\"") ? "an answer without a result" : null;
        }
        catch (Exception e)
        {
            return e.GetType().Name;
        }
    }

    async Task OneAsync(long n, TimeSpan scheduled)
    {
        var body = (n % 10) switch
        {
            < 6 => WhoAmI,
            < 9 => """{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"retrieve_entities","arguments":{"limit":20}}}""",
            _ => StoreBody(Interlocked.Increment(ref stored)),
        };
        var failure = await SoakCallAsync(body);
        if (scheduled < warmUp)
        {
            if (failure is not null)
            {
                Interlocked.Increment(ref warmUpFailures);
            }

            return;
        }

        // A failure is counted, not timed: a fast refusal would pull the percentiles down.
        if (failure is null)
        {
            buckets[(int)(scheduled - warmUp).TotalMinutes].Add((clock.Elapsed - scheduled).TotalMilliseconds);
        }
        else
        {
            failures.AddOrUpdate(failure, 1, (_, count) => count + 1);
        }
    }

    static string StoreBody(int batch) =>
        """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"store","arguments":{"entities":[""" +
        string.Join(',', Enumerable.Range(0, 3).Select(i =>
            $$$"""{"entity_type":"contact","name":"Soak person {{{batch}}}-{{{i}}}","aliases":["sp{{{batch}}}x{{{i}}}"],"fields":{"email":"p{{{batch}}}.{{{i}}}@example.test","since":"2024-05-01"}}""")) +
        "]}}}";

    async Task RotateAndRevokeAsync()
    {
        while (true)
        {
            await Task.Delay(TimeSpan.FromSeconds(20));
            if (clock.Elapsed >= end)
            {
                return;
            }

            try
            {
                await RotateAndRevokeOnceAsync(++rotations);
            }
            catch (Exception e)
            {
                failures.AddOrUpdate($"rotation or revocation threw {e.GetType().Name}", 1, (_, count) => count + 1);
            }
        }
    }

    async Task<HttpStatusCode> WhoAmIStatusAsync(string bearer)
    {
        using var request = McpPost(neotomaUrl, bearer, WhoAmI);
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    async Task RotateAndRevokeOnceAsync(int round)
    {
        using (var rotated = await http.PostAsync(tokenUrl, new FormUrlEncodedContent(new Dictionary<string, string>
               {
                   ["grant_type"] = "refresh_token", ["refresh_token"] = refresh, ["client_id"] = "bench-soak",
               })))
        {
            if (!rotated.IsSuccessStatusCode)
            {
                failures.AddOrUpdate($"refresh HTTP {(int)rotated.StatusCode}", 1, (_, count) => count + 1);
                return;
            }

            using var pair = System.Text.Json.JsonDocument.Parse(await rotated.Content.ReadAsStringAsync());
            refresh = pair.RootElement.GetProperty("refresh_token").GetString()!;
            Volatile.Write(ref access, pair.RootElement.GetProperty("access_token").GetString()!);
        }

        // The other client's token is used once before the revocation, so it sits in the access-token
        // cache: its refusal afterwards proves the revocation reached the cache, not only the database.
        var other = (await CreateConnectionsAsync([$"bench-soak-revoked-{round}"]))[0];
        var (otherAccess, otherRefresh) = await IssueTokensAsync(other);
        if (await WhoAmIStatusAsync(otherAccess) != HttpStatusCode.OK)
        {
            failures.AddOrUpdate("a fresh sign-in's access token was refused", 1, (_, count) => count + 1);
        }

        using (var revoked = await http.PostAsync(revokeUrl, new FormUrlEncodedContent(new Dictionary<string, string>
               {
                   ["token"] = otherRefresh, ["token_type_hint"] = "refresh_token", ["client_id"] = other,
               })))
        {
            if (!revoked.IsSuccessStatusCode)
            {
                failures.AddOrUpdate($"revoke HTTP {(int)revoked.StatusCode}", 1, (_, count) => count + 1);
            }
        }

        if (await WhoAmIStatusAsync(otherAccess) != HttpStatusCode.Unauthorized)
        {
            failures.AddOrUpdate("a revoked sign-in's access token was still accepted", 1, (_, count) => count + 1);
        }
    }

    async Task<long> EntitiesAsync() => (await database.QueryListAsync(DbScope.ForUser(userId),
        "SELECT coalesce(sum(live_count), 0)::bigint FROM entity_types", _ => { }, reader => reader.GetInt64(0), CancellationToken.None))[0];

    Console.WriteLine($"soak: {rate} requests/s for {minutes} min after 15 s of warm-up (60 % get_authenticated_user, 30 % retrieve_entities(20), " +
        "10 % store of 3), a token rotation and a revocation every 20 s; latency from each request's scheduled start");
    Console.WriteLine($"{"minute",6} {"requests",9} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"errors",7} {"RSS MB",7} {"entities",9}");
    var rotation = RotateAndRevokeAsync();
    var inFlight = 0L;
    var reported = 0;

    // Each minute is printed 10 s after its last request was due (a request slower than that still
    // counts in the summary below), while the next minute's requests keep starting on time.
    async Task ReportAsync()
    {
        var errorsSoFar = 0;
        for (; reported < buckets.Length - 1 && warmUp + TimeSpan.FromMinutes(reported) < end; reported++)
        {
            var due = warmUp + TimeSpan.FromMinutes(reported + 1) + TimeSpan.FromSeconds(10) - clock.Elapsed;
            if (due > TimeSpan.Zero)
            {
                await Task.Delay(due);
            }

            var latencies = buckets[reported].Order().ToArray();
            var errors = failures.Values.Sum();
            rss.Add(Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024));
            Console.WriteLine($"{reported + 1,6} {latencies.Length,9} {Percentile(latencies, 0.50),8:F2} {Percentile(latencies, 0.99),8:F2} {latencies.LastOrDefault(),8:F1} " +
                $"{errors - errorsSoFar,7} {rss[^1],7} {await EntitiesAsync(),9}");
            errorsSoFar = errors;
        }
    }

    var reporter = ReportAsync();
    for (long n = 0; ; n++)
    {
        var scheduled = TimeSpan.FromSeconds((double)n / rate);
        if (scheduled >= end)
        {
            break;
        }

        var wait = scheduled - clock.Elapsed;
        if (wait > TimeSpan.FromMilliseconds(1))
        {
            await Task.Delay(wait);
        }

        Interlocked.Increment(ref inFlight);
        _ = OneAsync(n, scheduled).ContinueWith(_ => Interlocked.Decrement(ref inFlight), TaskScheduler.Default);
    }

    while (Interlocked.Read(ref inFlight) > 0)
    {
        await Task.Delay(100);
    }

    await rotation;
    await reporter;
    var first = Percentile(buckets[0].Order().ToArray(), 0.99);
    var minutesSeen = buckets.Take(reported + 1).Where(bucket => !bucket.IsEmpty).Select(bucket => Percentile(bucket.Order().ToArray(), 0.99)).ToArray();
    var worst = minutesSeen.DefaultIfEmpty(double.NaN).Max();
    var lastRss = Process.GetCurrentProcess().WorkingSet64 / (1024 * 1024);
    var settled = rss.Count > 2 ? rss.Skip(2).ToArray() : rss.ToArray();
    var line = $"soak {minutes} min at {rate}/s: {failures.Values.Sum()} errors (target 0: {(failures.IsEmpty ? "met" : "NOT met")}); " +
        $"p99 first minute {first:F2} ms, worst minute {worst:F2} ms ({worst / first:F2}x, target <= 2x: {(worst <= 2 * first ? "met" : "NOT met")}); " +
        $"RSS {settled.Min()}-{Math.Max(settled.Max(), lastRss)} MB from minute 3 on, {lastRss} MB at the end (target <= 250 MB: {(Math.Max(settled.Max(), lastRss) <= 250 ? "met" : "NOT met")}); " +
        $"the person grew to {await EntitiesAsync():N0} entities; {rotations} rotations and revocations; {warmUpFailures} errors in the warm-up";
    foreach (var (failure, count) in failures)
    {
        Console.WriteLine($"  {count} x {failure}");
    }

    Console.WriteLine(line);
    summary.Add(line);
}

if (groups.Contains("scale"))
{
    // Issue 26: the read tools as one person's data grows (BENCH_SCALE_SIZES, default 100 to a million
    // entities), with other people's rows in the same tables as row-level security sees them, one call
    // at a time; beside each row the plan of its statement, which must not grow with the data.
    var sizes = (Environment.GetEnvironmentVariable("BENCH_SCALE_SIZES") ?? "100,10000,100000,1000000")
        .Split(',', StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
    await SeedScaleAsync("bench-others", 1, 100_000);
    var have = 0;
    foreach (var size in sizes)
    {
        var fill = Stopwatch.StartNew();
        await SeedScaleAsync(userId, have + 1, size);
        have = Math.Max(have, size);
        Console.WriteLine($"-- {size:N0} entities of bench-user (and 100,000 of another person), filled in {fill.Elapsed.TotalSeconds:F1} s; load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        var probe = size / 2;
        // Half-way down the list: by offset PostgreSQL walks every entity before it; by cursor it starts there.
        var middleAt = (await database.QueryListAsync(DbScope.ForUser(userId), "SELECT updated_at FROM entities WHERE id = @id",
            p => p.AddWithValue("id", $"ent_scale_{probe}"), reader => reader.GetFieldValue<DateTimeOffset>(0), CancellationToken.None)).Single();
        var middle = PageCursor.Write(PageCursor.Entities, middleAt, $"ent_scale_{probe}");
        var calls = new (string Name, string Tool, string Arguments, string Sql, Action<NpgsqlParameterCollection> Parameters)[]
        {
            ("retrieve_entities(20) half-way by offset", "retrieve_entities", $$"""{"limit":20,"offset":{{probe}}}""", TruthStore.EntityPages.For(ofType: false, atOffset: true), p =>
            {
                p.AddWithValue("includeDeleted", false);
                p.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
                p.AddWithValue("limit", 21);
                p.AddWithValue("offset", probe);
            }),
            ("retrieve_entities(20) half-way by cursor", "retrieve_entities", $$"""{"limit":20,"cursor":"{{middle}}"}""", TruthStore.EntityPages.For(ofType: false, afterCursor: true), p =>
            {
                p.AddWithValue("includeDeleted", false);
                p.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
                p.AddWithValue("afterAt", middleAt);
                p.AddWithValue("afterId", $"ent_scale_{probe}");
                p.AddWithValue("limit", 21);
                p.AddWithValue("offset", 0);
            }),
            ("retrieve_entities(20)", "retrieve_entities", """{"limit":20}""", TruthStore.EntityPages.For(ofType: false), p =>
            {
                p.AddWithValue("includeDeleted", false);
                p.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
                p.AddWithValue("limit", 20);
                p.AddWithValue("offset", 0);
            }),
            // The plan shown is the lookup inside neotoma_search_entities (0017), as the function plans it
            // (sequential scans off): EXPLAIN of the tool's own statement shows the function as one node.
            // The index looks up the probe's rare word alone ("scale" is in every name: EntitySearch.RarestWord).
            ("retrieve_entities(search)", "retrieve_entities", $$"""{"search":"scale {{probe}}","limit":20}""", SearchLookupSql, p =>
            {
                p.AddWithValue("lookup", $"{probe}");
                p.AddWithValue("search", $"scale {probe}");
            }),
            // Common texts, found by walking the newest entities (EntitySearch): one in nine of the person's
            // names (more among the newest), every name; and one whose matches come in clusters (one among
            // the newest 250, thousands further down), found by the index after the first walk.
            ("retrieve_entities(search) a ninth", "retrieve_entities", """{"search":"scale 5","limit":20}""", EntitySearch.Walk(ofType: false, afterPlace: false, countWords: false), p => Walk(p, "scale 5")),
            ("retrieve_entities(search) every one", "retrieve_entities", """{"search":"cale","limit":20}""", EntitySearch.Walk(ofType: false, afterPlace: false, countWords: false), p => Walk(p, "cale")),
            ("retrieve_entities(search) clustered", "retrieve_entities", """{"search":"scale 99","limit":20}""", SearchLookupSql, p =>
            {
                p.AddWithValue("lookup", "scale 99");
                p.AddWithValue("search", "scale 99");
            }),
            ("retrieve_entity_by_identifier", "retrieve_entity_by_identifier", $$"""{"identifier":"S{{probe}}"}""", TruthStore.ByIdentifierSql, p =>
            {
                p.AddWithValue("identifier", $"S{probe}");
                p.AddWithValue("normalized", $"s{probe}");
                p.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
            }),
            ("list_entity_types", "list_entity_types", "{}", TruthStore.EntityTypesSql, _ => { }),
            ("list_timeline_events(20)", "list_timeline_events", """{"limit":20}""", TruthStore.TimelinePages.For(ofType: false), p =>
            {
                p.Add(new NpgsqlParameter("from", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = DBNull.Value });
                p.Add(new NpgsqlParameter("to", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = DBNull.Value });
                p.AddWithValue("limit", 21);
                p.AddWithValue("offset", 0);
            }),
            ("list_observations", "list_observations", $$"""{"entity_id":"ent_scale_{{probe}}"}""", TruthStore.ObservationsSql, p =>
            {
                p.AddWithValue("id", $"ent_scale_{probe}");
                p.AddWithValue("limit", 21);
                p.AddWithValue("offset", 0);
            }),
        };
        foreach (var call in calls)
        {
            var body = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"" + call.Tool + "\",\"arguments\":" + call.Arguments + "}}";
            var result = await RunAsync(new("neotoma", call.Name, Http(neotomaUrl, token, body)), 1);
            var plan = await PlanAsync(call.Sql, call.Parameters, sequentialScans: call.Sql != SearchLookupSql);
            Console.WriteLine($"{"",-10}   plan: {plan}");
            var target = size >= 1_000_000 ? 20 : size >= 100_000 ? 10 : (double?)null;
            if (target is { } ms)
            {
                summary.Add($"{call.Name} at {size:N0} entities, 1 client: p50 {result.P50:F2} ms, p99 {result.P99:F2} ms " +
                    $"(target p99 <= {ms} ms: {(result.P99 <= ms ? "met" : "NOT met")}); plan {(plan.Contains("Seq Scan on entities") || plan.Contains("Seq Scan on entity_search") || plan.Contains("Seq Scan on timeline") || plan.Contains("Seq Scan on observations") ? "reads a whole table" : "by index")}");
            }
        }
    }
}

Console.WriteLine();
foreach (var line in summary)
{
    Console.WriteLine(line);
}

await neotoma.StopAsync();
await bareApp.StopAsync();
await sameToolsApp.StopAsync();
await simpleApp.StopAsync();
await echo15App.StopAsync();
return 0;

// A reference server: the MCP SDK alone on Kestrel (slim host, warnings only), stateless at /mcp, on a port of its own.
static async Task<(WebApplication App, int Port)> StartSdkServerAsync(Action<IServiceCollection> configure, int? atPort = null)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.SetMinimumLevel(LogLevel.Warning);
    var port = atPort ?? FreePorts.Next();
    builder.WebHost.UseUrlsCompat($"http://127.0.0.1:{port}");
    configure(builder.Services);
    var app = builder.Build();
    app.MapMcp("/mcp");
    await app.StartAsync();
    return (app, port);
}

// The reference servers, each the MCP SDK alone (stateless, no auth):
// - bare: one trivial tool, echo; what any MCP server on this SDK costs per call.
// - bare-14: Neotoma's 14 tools, to separate the cost of a larger tools/list from the cost of auth and hosting.
// - bare-15: echo among Neotoma's 14 tools: the SDK builds a server per stateless request, and how much of
//   that grows with the number of tools shows beside the 1-tool echo, so the identity call's distance to
//   it is Neotoma's own (bearer, filters, the self-host), not the SDK's.
// - identity: Neotoma's get_authenticated_user (its class, serializer and answer) on the SDK alone, the
//   request's user set as a bearer check would set it: beside the bare echo it shows what the tool's
//   answer costs the SDK, and beside the app what Neotoma's own path costs (the bearer check, CORS, the
//   body read before the SDK, the call-tool filters, the function and its host).
// - simple: the simplest SDK tool that does retrieve_entities' work (the same statement as the same role,
//   the user set in the same round trip, rows to records, structured output; no auth, no filters): beside
//   the floor and Neotoma it shows the SDK's share of a tool call and Neotoma's own.
static Action<IServiceCollection> ReferenceServer(string name, string connectionString) => name switch
{
    "bare" => services => services.AddMcpServer().WithHttpTransport(options => options.Stateless = true).WithTools<BareTools>(),
    "bare-14" => services => services.AddMcpServer().WithHttpTransport(options => options.Stateless = true)
        .WithTools<Neotoma.Core.Mcp.IdentityTools>().WithTools<Neotoma.Core.Mcp.TruthTools>(),
    "bare-15" => services => services.AddMcpServer().WithHttpTransport(options => options.Stateless = true)
        .WithTools<BareTools>().WithTools<Neotoma.Core.Mcp.IdentityTools>().WithTools<Neotoma.Core.Mcp.TruthTools>(),
    "identity" => services => services.AddSingleton<Microsoft.AspNetCore.Hosting.IStartupFilter, SignedInReference>()
        .AddMcpServer().WithHttpTransport(options => options.Stateless = true).WithTools<Neotoma.Core.Mcp.IdentityTools>(Neotoma.Core.Mcp.ToolJson.Options),
    "simple" => services => services
        .AddSingleton(NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxAutoPrepare = 64 }.ConnectionString))
        .AddMcpServer().WithHttpTransport(options => options.Stateless = true).WithTools<SimpleRetrieveTool>(),
    _ => throw new ArgumentException($"no reference server named {name} (bare, bare-14, bare-15, identity, simple)", nameof(name)),
};

Func<Task<bool>> Http(string url, string? bearer, string body) => HttpEach(url, bearer, () => body);

// The parameters of a search's first walk (EntitySearch.Walk) for a page of 20.
static void Walk(NpgsqlParameterCollection parameters, string search)
{
    parameters.AddWithValue("includeDeleted", false);
    parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
    parameters.AddWithValue("search", search);
    parameters.AddWithValue("need", 21);
}

// One person's entities numbered from..to, each with an alias, one observation with a date, its
// snapshot and its timeline event. A million entities cannot come through the store tool in the time
// of a bench run, and a bulk path in the product would exist for the bench alone: the bench writes
// these rows itself, as the store would have (the counts and aliases the entities' triggers keep are
// filled the same way, with the triggers off while filling: row by row they would take minutes).
async Task SeedScaleAsync(string person, int from, int to)
{
    if (to < from)
    {
        return;
    }

    await database.InTransactionAsync(DbScope.ForUser(person), async (connection, transaction) =>
    {
        await using var insert = new NpgsqlCommand("""
            ALTER TABLE entities DISABLE TRIGGER USER;
            INSERT INTO entities (id, user_id, entity_type, canonical_name, normalized_name, aliases, normalized_aliases, created_at, updated_at)
            SELECT 'ent_' || @prefix || g, @person, (ARRAY['contact', 'company', 'note', 'task'])[1 + g % 4], 'Scale ' || g, 'scale ' || g,
                   ARRAY['S' || g], ARRAY['s' || g], now() - g * interval '1 second', now() - g * interval '1 second'
            FROM generate_series(@from, @to) g;
            INSERT INTO observations (id, user_id, entity_id, fields, source, source_priority, specificity, observed_at, created_at)
            SELECT 'obs_' || @prefix || g, @person, 'ent_' || @prefix || g,
                   jsonb_build_object('email', 's' || g || '@example.test', 'since', '2024-05-01'), 'structured', 200, 0, now() - g * interval '1 second', now()
            FROM generate_series(@from, @to) g;
            INSERT INTO entity_snapshots (entity_id, user_id, fields, provenance, observation_count, updated_at)
            SELECT 'ent_' || @prefix || g, @person, jsonb_build_object('email', 's' || g || '@example.test', 'since', '2024-05-01'), '{}', 1, now()
            FROM generate_series(@from, @to) g;
            INSERT INTO timeline_events (user_id, entity_id, observation_id, entity_type, field, event_at)
            SELECT @person, 'ent_' || @prefix || g, 'obs_' || @prefix || g, (ARRAY['contact', 'company', 'note', 'task'])[1 + g % 4], 'since',
                   timestamptz '2020-01-01' + g * interval '1 minute'
            FROM generate_series(@from, @to) g;
            INSERT INTO entity_aliases (user_id, normalized_alias, entity_id)
            SELECT @person, 's' || g, 'ent_' || @prefix || g FROM generate_series(@from, @to) g;
            INSERT INTO entity_search (entity_id, user_id, haystack, entity_type, updated_at, merged, deleted)
            SELECT 'ent_' || @prefix || g, @person, neotoma_search_text('scale ' || g, ARRAY['s' || g]), (ARRAY['contact', 'company', 'note', 'task'])[1 + g % 4],
                   now() - g * interval '1 second', false, false
            FROM generate_series(@from, @to) g;
            INSERT INTO entity_types (user_id, entity_type, fields, live_count)
            SELECT @person, entity_type, '{"email":"string","since":"date"}', count(*) FILTER (WHERE deleted_at IS NULL)
            FROM entities WHERE merged_to IS NULL GROUP BY entity_type
            ON CONFLICT (user_id, entity_type) DO UPDATE SET live_count = EXCLUDED.live_count, fields = entity_types.fields || EXCLUDED.fields;
            ALTER TABLE entities ENABLE TRIGGER USER;
            """, connection, transaction) { CommandTimeout = 1800 };
        insert.Parameters.AddWithValue("prefix", person == userId ? "scale_" : person + "_");
        insert.Parameters.AddWithValue("person", person);
        insert.Parameters.AddWithValue("from", from);
        insert.Parameters.AddWithValue("to", to);
        await insert.ExecuteNonQueryAsync();
    }, CancellationToken.None);
    await using var analyze = neotoma.Services.GetRequiredService<NpgsqlDataSource>().CreateCommand("VACUUM ANALYZE");
    analyze.CommandTimeout = 1800;
    await analyze.ExecuteNonQueryAsync();
}

// The plan PostgreSQL chooses for a statement with the row's arguments, as the app role with the
// person's setting (row-level security applied), as its node types and indexes, outermost first. It is
// the custom plan; the tool's prepared statement may use a generic one after five runs, which the
// row's own timings would show.
async Task<string> PlanAsync(string sql, Action<NpgsqlParameterCollection> parameters, bool sequentialScans = true)
{
    return await database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
    {
        if (!sequentialScans)
        {
            await using var off = new NpgsqlCommand("SET LOCAL enable_seqscan = off", connection, transaction);
            await off.ExecuteNonQueryAsync();
        }

        await using var explain = new NpgsqlCommand("EXPLAIN (FORMAT JSON, COSTS OFF) " + sql, connection, transaction);
        parameters(explain.Parameters);
        using var plan = System.Text.Json.JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
        var nodes = new List<string>();
        void Walk(System.Text.Json.JsonElement node)
        {
            var type = node.GetProperty("Node Type").GetString()!;
            if (node.TryGetProperty("Index Name", out var index))
            {
                type += " using " + index.GetString();
            }
            else if (node.TryGetProperty("Relation Name", out var relation))
            {
                type += " on " + relation.GetString();
            }

            nodes.Add(type);
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    Walk(child);
                }
            }
        }

        Walk(plan.RootElement[0].GetProperty("Plan"));
        return string.Join(" > ", nodes);
    }, CancellationToken.None);
}

// A request whose body is made anew for each call (store's entities must be new each time).
Func<Task<bool>> HttpEach(string url, string? bearer, Func<string> body) => async () =>
{
    using var request = McpPost(url, bearer, body());
    using var response = await http.SendAsync(request);
    var text = await response.Content.ReadAsStringAsync();
    return response.StatusCode == HttpStatusCode.OK && !text.Contains("\"isError\":true") && !text.Contains("\"error\"");
};

// A JSON-RPC message posted to /mcp as a client does: JSON or an event stream accepted, the protocol version said.
static HttpRequestMessage McpPost(string url, string? bearer, string body)
{
    var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
    request.Headers.Accept.ParseAdd("application/json");
    request.Headers.Accept.ParseAdd("text/event-stream");
    request.Headers.Add("MCP-Protocol-Version", "2025-11-25");
    if (bearer is not null)
    {
        request.Headers.Authorization = new("Bearer", bearer);
    }

    return request;
}

// The rows of one comparison are measured in turns, `rounds` slices each, so a busy moment of
// the machine falls on all of them alike instead of on whichever happened to be running.
async Task<Result[]> InTurnsAsync(Row[] rows, int clients)
{
    var samples = await AlternatingAsync(rows.Length, (i, duration) => MeasureAsync(rows[i].Operation, clients, duration),
        rounds, TimeSpan.FromSeconds((double)seconds / rounds));
    return rows.Select((row, i) => Print(row, clients, Summarize(samples[i]))).ToArray();
}

// Each of `count` rows warmed up for 2 s, then measured in `turns` slices of `slice` each, the rows
// alternating; every row's slices, in order.
static async Task<List<T>[]> AlternatingAsync<T>(int count, Func<int, TimeSpan, Task<T>> measure, int turns, TimeSpan slice)
{
    var slices = Enumerable.Range(0, count).Select(_ => new List<T>()).ToArray();
    for (var i = 0; i < count; i++)
    {
        await measure(i, TimeSpan.FromSeconds(2));
    }

    for (var turn = 0; turn < turns; turn++)
    {
        for (var i = 0; i < count; i++)
        {
            slices[i].Add(await measure(i, slice));
        }
    }

    return slices;
}

async Task<Result> RunAsync(Row row, int clients)
{
    await MeasureAsync(row.Operation, clients, TimeSpan.FromSeconds(2));
    return Print(row, clients, Summarize([await MeasureAsync(row.Operation, clients, TimeSpan.FromSeconds(seconds))]));
}

static async Task<Sample> MeasureAsync(Func<Task<bool>> operation, int clients, TimeSpan duration)
{
    async Task<List<double>> Worker(DateTime until, int[] errors)
    {
        var latencies = new List<double>();
        while (DateTime.UtcNow < until)
        {
            var started = Stopwatch.GetTimestamp();
            var ok = await operation();
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            if (!ok)
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
    return new Result(all.Length / samples.Sum(sample => sample.Seconds), Percentile(all, 0.50), Percentile(all, 0.95), Percentile(all, 0.99),
        samples.Sum(sample => sample.Errors));
}

static Result Print(Row row, int clients, Result result)
{
    Console.WriteLine($"{row.Target,-10} {row.Name,-32} {clients,7} {result.RequestsPerSecond,9:F0} {result.P50,8:F2} {result.P95,8:F2} {result.P99,8:F2} {result.Errors,7} {PeakMegabytes(),8}");
    return result;
}

static string Ratio(string what, Result neotoma, Result reference, int clients, string target, double minimum, bool extra = true)
{
    var ratio = neotoma.RequestsPerSecond / reference.RequestsPerSecond;
    var line = $"{what} at {clients,2} client(s): {ratio:F2} (target {target}: {(ratio >= minimum && extra ? "met" : "NOT met")})";
    Console.WriteLine(line);
    return line;
}

static long PeakMegabytes() => Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024);

// A person's Approve on the consent page: a registered client, the consent form's fields and the
// browser's consent cookie from one GET of /authorize, then each call posts the form as the browser
// does (a new state row and the provider's authorize URL, answered by the "Continuing…" page).
async Task<Func<Task<bool>>> ConsentApproveAsync()
{
    var origin = $"http://127.0.0.1:{neotomaPort}";
    var browser = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false, MaxConnectionsPerServer = 64 });
    using var registered = await browser.PostAsync(origin + "/api/mcp/oauth/register", new StringContent(
        """{"client_name":"bench","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}""", Encoding.UTF8, "application/json"));
    using var client = System.Text.Json.JsonDocument.Parse(await registered.Content.ReadAsStringAsync());
    var challenge = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Encoding.ASCII.GetBytes(CodeVerifier)))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');
    var page = await browser.GetStringAsync(origin + "/api/mcp/oauth/authorize?response_type=code&code_challenge_method=S256&state=bench" +
        $"&client_id={client.RootElement.GetProperty("client_id").GetString()}&redirect_uri={Uri.EscapeDataString("http://127.0.0.1:9/cb")}&code_challenge={challenge}");
    var fields = System.Text.RegularExpressions.Regex.Matches(page, "<input type=\"hidden\" name=\"(?<n>[^\"]+)\" value=\"(?<v>[^\"]*)\">")
        .ToDictionary(m => m.Groups["n"].Value, m => WebUtility.HtmlDecode(m.Groups["v"].Value));
    fields["decision"] = "approve";
    return async () =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, origin + "/api/mcp/oauth/initiate") { Content = new FormUrlEncodedContent(fields) };
        request.Headers.Add("Origin", origin);
        using var response = await browser.SendAsync(request);
        return response.StatusCode == HttpStatusCode.OK && (await response.Content.ReadAsStringAsync()).Contains("Continuing");
    };
}

// A first sign-in from a client, as a person's browser and the client make it: the client registers,
// the browser opens /authorize and approves, the provider sends it back to the callback (which
// exchanges the code with the provider and validates its ID token), the client redeems the code.
// Each step's time is what the app took to answer, seen from the client, kept per step.
async Task<bool> SignInAsync(System.Collections.Concurrent.ConcurrentDictionary<string, System.Collections.Concurrent.ConcurrentBag<double>> steps)
{
    var origin = $"http://127.0.0.1:{neotomaPort}";
    using var browser = new HttpClient(new SocketsHttpHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false });
    async Task<HttpResponseMessage> Step(string name, Func<Task<HttpResponseMessage>> send)
    {
        var started = Stopwatch.GetTimestamp();
        var response = await send();
        await response.Content.LoadIntoBufferAsync();
        steps.GetOrAdd(name, _ => []).Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        return response;
    }

    using var registered = await Step(SignInSteps[0], () => browser.PostAsync(origin + "/api/mcp/oauth/register", new StringContent(
        """{"client_name":"bench sign-in","redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none"}""", Encoding.UTF8, "application/json")));
    using var client = System.Text.Json.JsonDocument.Parse(await registered.Content.ReadAsStringAsync());
    var clientId = client.RootElement.GetProperty("client_id").GetString()!;
    var challenge = Pkce.Challenge(CodeVerifier);
    using var consent = await Step(SignInSteps[1], () => browser.GetAsync(origin + "/api/mcp/oauth/authorize?response_type=code&code_challenge_method=S256" +
        $"&state=bench&client_id={clientId}&redirect_uri={Uri.EscapeDataString("http://127.0.0.1:9/cb")}&code_challenge={challenge}"));
    var fields = System.Text.RegularExpressions.Regex.Matches(await consent.Content.ReadAsStringAsync(), "<input type=\"hidden\" name=\"(?<n>[^\"]+)\" value=\"(?<v>[^\"]*)\">")
        .ToDictionary(m => m.Groups["n"].Value, m => WebUtility.HtmlDecode(m.Groups["v"].Value));
    fields["decision"] = "approve";
    using var approve = new HttpRequestMessage(HttpMethod.Post, origin + "/api/mcp/oauth/initiate") { Content = new FormUrlEncodedContent(fields) };
    approve.Headers.Add("Origin", origin);
    using var continuing = await Step(SignInSteps[2], () => browser.SendAsync(approve));
    var provider = System.Text.RegularExpressions.Regex.Match(await continuing.Content.ReadAsStringAsync(), "id=\"continue\" href=\"(?<u>[^\"]+)\"");
    if (!provider.Success)
    {
        return false;
    }

    var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(new Uri(WebUtility.HtmlDecode(provider.Groups["u"].Value)).Query);
    using var callback = await Step(SignInSteps[3], () => browser.GetAsync(origin + "/api/mcp/oauth/callback?code=" +
        Uri.EscapeDataString(query["nonce"].ToString()) + "&state=" + Uri.EscapeDataString(query["state"].ToString())));
    if (callback.Headers.Location is not { } back)
    {
        return false;
    }

    var code = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(back.Query)["code"].ToString();
    using var redeemed = await Step(SignInSteps[4], () => browser.PostAsync(origin + "/api/mcp/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
    {
        ["grant_type"] = "authorization_code", ["code"] = code, ["client_id"] = clientId,
        ["redirect_uri"] = "http://127.0.0.1:9/cb", ["code_verifier"] = CodeVerifier,
    })));
    return redeemed.IsSuccessStatusCode;
}

// Connections as the callback makes them (through the store the product writes them with), each its own client; without
// upstream tokens, so a refresh is Neotoma's own work alone.
async Task<string[]> CreateConnectionsAsync(string[] ids)
{
    await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
    {
        foreach (var id in ids)
        {
            if (!await GrantStore.CreateAsync(transaction, new NewConnection(id, userId, DateTimeOffset.UtcNow, ClientId: id, ClientName: "bench",
                    Scope: NeotomaScopes.Default), CancellationToken.None))
            {
                throw new InvalidOperationException($"the benchmark's connection {id} already exists: start from an empty database");
            }
        }
    }, CancellationToken.None);
    return ids;
}

// A token pair for one connection, as its client gets one: a code as the callback stores it, redeemed at the token endpoint.
// The app at another origin (the wrk group's own process) redeems a code made for its /mcp.
async Task<(string Access, string Refresh)> IssueTokensAsync(string connectionId, string? origin = null)
{
    origin ??= $"http://127.0.0.1:{neotomaPort}";
    var code = (await CreateCodesAsync([connectionId], 1, origin + "/mcp"))[0];
    using var response = await http.PostAsync(origin + "/api/mcp/oauth/token", new FormUrlEncodedContent(new Dictionary<string, string>
    {
        ["grant_type"] = "authorization_code", ["code"] = code, ["client_id"] = connectionId,
        ["redirect_uri"] = "http://127.0.0.1:9/cb", ["code_verifier"] = CodeVerifier,
    }));
    response.EnsureSuccessStatusCode();
    using var body = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
    return (body.RootElement.GetProperty("access_token").GetString()!, body.RootElement.GetProperty("refresh_token").GetString()!);
}

// Authorization codes as the callback stores them (through its store: hash only, one PKCE challenge); code i belongs to connection i % count.
async Task<string[]> CreateCodesAsync(string[] connections, int count, string? resource = null)
{
    resource ??= $"http://127.0.0.1:{neotomaPort}/mcp";
    var codes = Enumerable.Range(0, count).Select(_ => OpaqueToken.New(32)).ToArray();
    var now = DateTimeOffset.UtcNow;
    await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
    {
        for (var i = 0; i < codes.Length; i++)
        {
            var connection = connections[i % connections.Length];
            await CodeStore.InsertAsync(transaction, new NewCode(OpaqueToken.Hash(codes[i]), connection, connection, "http://127.0.0.1:9/cb",
                Pkce.Challenge(CodeVerifier), NeotomaScopes.Default, resource, now, now.AddHours(1)), CancellationToken.None);
        }
    }, CancellationToken.None);
    return codes;
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

// A row measured outside this process, as the in-process rows' Result (its median slice's rate and percentiles).
static Result Outcome(OutsideSample sample) => new(sample.Requests / sample.Seconds, sample.P50, sample.P95, sample.P99, (int)sample.Errors);

static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];


internal static partial class Program
{
    private static readonly string[] SignInSteps = ["register", "authorize (consent page)", "initiate (Approve)", "callback (+ provider exchange)", "token (code)"];
}

internal sealed record Result(double RequestsPerSecond, double P50, double P95, double P99, int Errors);

internal sealed record Row(string Target, string Name, Func<Task<bool>> Operation);

internal sealed record Sample(List<double> Latencies, double Seconds, int Errors);


[McpServerToolType]
internal sealed class SimpleRetrieveTool(NpgsqlDataSource dataSource)
{
    [McpServerTool(Name = "retrieve_entities", UseStructuredContent = true), Description("bench-user's entities, newest first.")]
    public async Task<SimplePage> Retrieve(int limit = 20, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var batch = new NpgsqlBatch(connection);
        var scope = new NpgsqlBatchCommand("SELECT set_config('neotoma.user_id', $1, true)");
        scope.Parameters.Add(new NpgsqlParameter { Value = "bench-user" });
        var query = new NpgsqlBatchCommand(TruthStore.EntityPages.For(ofType: false));
        query.Parameters.AddWithValue("includeDeleted", false);
        query.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = DBNull.Value });
        query.Parameters.AddWithValue("limit", limit);
        batch.BatchCommands.Add(scope);
        batch.BatchCommands.Add(query);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        await reader.NextResultAsync(cancellationToken);
        var entities = new List<SimpleEntity>();
        long total = 0;
        while (await reader.ReadAsync(cancellationToken))
        {
            entities.Add(new SimpleEntity(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<string[]>(3),
                System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, System.Text.Json.JsonElement>>(reader.GetString(4))!,
                reader.GetBoolean(5), reader.IsDBNull(6) ? null : reader.GetString(6), reader.GetFieldValue<DateTimeOffset>(7)));
            total = reader.GetInt64(8);
        }

        return new SimplePage(total, entities);
    }
}

internal sealed record SimplePage(long Total, IReadOnlyList<SimpleEntity> Entities);

// Rows to records as any SDK tool would write them (Neotoma's own records keep the fields' jsonb text).
internal sealed record SimpleEntity(string Id, string EntityType, string CanonicalName, IReadOnlyList<string> Aliases,
    IReadOnlyDictionary<string, System.Text.Json.JsonElement> Fields, bool Deleted, string? MergedInto, DateTimeOffset UpdatedAt);

[McpServerToolType]
internal sealed class BareTools
{
    [McpServerTool(Name = "echo"), Description("Echoes the text.")]
    public static string Echo(string text) => text;
}

/// <summary>
/// The identity reference's requests arrive signed in, with the principal the app's bearer check makes for
/// the wrk group's grant (the same values, so both answers are the same bytes), one for every request, as
/// the app keeps one per cached grant.
/// </summary>
internal sealed class SignedInReference : Microsoft.AspNetCore.Hosting.IStartupFilter
{
    private static readonly System.Security.Claims.ClaimsPrincipal User = Neotoma.Core.Mcp.BearerAuthenticator.PrincipalOf(
        new AccessGrant("bench-user", "bench-wrk", "bench-wrk", NeotomaScopes.Default, "unused: the tool does not show it"));

    public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
    {
        app.Use((context, following) =>
        {
            context.User = User;
            return following(context);
        });
        next(app);
    };
}

internal static class WebHostExtensions
{
    public static void UseUrlsCompat(this Microsoft.AspNetCore.Builder.ConfigureWebHostBuilder host, string url) =>
        Microsoft.AspNetCore.Hosting.HostingAbstractionsWebHostBuilderExtensions.UseUrls(host, url);
}
