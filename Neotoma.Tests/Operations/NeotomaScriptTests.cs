using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Neotoma.Tests.Infrastructure;
using Xunit.Abstractions;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Operations;

/// <summary>
/// `./neotoma` as a person runs it: each verb on its own data directory, ports and build output (the
/// configuration "Verbs", so the assemblies this test run has loaded are never rebuilt under it).
/// These test the script, not the services behind it, which the rest of the suite tests.
/// </summary>
public sealed class ScriptFixture : IAsyncLifetime
{
    public const string Configuration = "Verbs";

    /// <summary>Readable by others (the cluster under it belongs to the postgres user when the tests run as root), removed at the end.</summary>
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("neotoma-verbs-").FullName;

    public ScriptFixture()
    {
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(DataDirectory, (UnixFileMode)0b111_101_101);
        }
    }

    public int AppPort { get; } = FreePorts.Next();

    public int IdpPort { get; } = FreePorts.Next();

    public int PostgresPort { get; } = FreePorts.Next();

    public Uri AppUrl => new($"http://localhost:{AppPort}");

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>Starts `./neotoma` with <paramref name="arguments"/>; the caller waits for it or stops it.</summary>
    public ScriptProcess Start(IDictionary<string, string>? environment = null, params string[] arguments) =>
        Start(environment, ownProcessGroup: false, arguments);

    /// <param name="ownProcessGroup">
    /// The script leads a process group of its own (setsid), as a command typed in a terminal does, so
    /// that <see cref="ScriptProcess.InterruptGroupAsync"/> can send Ctrl-C to everything it started.
    /// </param>
    public ScriptProcess Start(IDictionary<string, string>? environment, bool ownProcessGroup, params string[] arguments)
    {
        // SIGINT back to its default first, as in a person's terminal: a shell started with SIGINT
        // ignored (any background job of a non-interactive shell, such as a CI step) cannot trap it,
        // and Ctrl-C would then test the runner's signal dispositions instead of the script.
        string[] command = ["env", "--default-signal=INT", "bash", Path.Combine(DevIdentityProvider.RepositoryRoot(), "neotoma"), .. arguments];
        // setsid execs in place (this child leads no group yet), so the script's PID is its group's id.
        var start = new ProcessStartInfo(ownProcessGroup ? "setsid" : command[0], ownProcessGroup ? command : command[1..])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // Only what a person's shell would have: none of the app's settings leak in from the test run.
        foreach (var name in start.Environment.Keys.Where(n => n.StartsWith("NEOTOMA_") || n is "DATABASE_CONNECTION_STRING" or "API_BASE" or "OIDC_ISSUER" or "MCP_TOKEN_ENCRYPTION_KEY").ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["NEOTOMA_DATA_DIR"] = DataDirectory;
        start.Environment["NEOTOMA_PORT"] = AppPort.ToString();
        start.Environment["NEOTOMA_IDP_PORT"] = IdpPort.ToString();
        start.Environment["NEOTOMA_PG_PORT"] = PostgresPort.ToString();
        start.Environment["NEOTOMA_CONFIGURATION"] = Configuration;
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return new ScriptProcess(Process.Start(start)!, string.Join(' ', arguments));
    }

    /// <summary>Runs a verb to its end.</summary>
    public async Task<ScriptProcess> RunAsync(IDictionary<string, string>? environment, params string[] arguments)
    {
        var run = Start(environment, arguments);
        await run.WaitForExitAsync(TimeSpan.FromMinutes(5));
        return run;
    }

    public Task<ScriptProcess> RunAsync(params string[] arguments) => RunAsync(null, arguments);

    public async Task DisposeAsync()
    {
        await RunAsync("down");
        Directory.Delete(DataDirectory, recursive: true);
    }
}

/// <summary>One run of the script, with everything it printed.</summary>
public sealed class ScriptProcess : IDisposable
{
    private readonly StringBuilder output = new();

    public ScriptProcess(Process process, string verb)
    {
        Process = process;
        Verb = verb;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Verb { get; }

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    public int ExitCode => Process.ExitCode;

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await Process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
            throw new TimeoutException($"./neotoma {Verb} did not finish in {timeout}:\n{Output}");
        }
    }

    /// <summary>Ctrl-C, as a person stops `up` and `idp`.</summary>
    public async Task InterruptAsync()
    {
        using (var kill = Process.Start("kill", ["-INT", Process.Id.ToString()])!)
        {
            await kill.WaitForExitAsync();
        }

        await WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Ctrl-C in a terminal: SIGINT to the script's whole process group (started with ownProcessGroup).</summary>
    public async Task InterruptGroupAsync()
    {
        using (var kill = Process.Start("kill", ["-INT", "--", "-" + Process.Id])!)
        {
            await kill.WaitForExitAsync();
        }

        await WaitForExitAsync(TimeSpan.FromSeconds(60));
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            Process.Kill(entireProcessTree: true);
        }

        Process.Dispose();
    }
}

/// <summary>The verb tests run alone: each builds and starts whole processes.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ScriptCollection
{
    public const string Name = "Script";
}

[Collection(ScriptCollection.Name)]
public sealed class NeotomaScriptTests(ScriptFixture script, ITestOutputHelper output) : IClassFixture<ScriptFixture>
{
    private static readonly string[] PidFiles = ["up.pid", "app.pid", "idp.pid"];

    [Fact]
    public async Task Up_ThenDoctor_PassesEveryCheck_ThenDown_LeavesNothingRunning()
    {
        using var up = script.Start(arguments: "up");
        await WaitForHealthAsync(up);

        using (var doctor = await script.RunAsync("doctor"))
        {
            output.WriteLine(doctor.Output);
            var checks = doctor.Output.Split('\n').Where(line => line.StartsWith("OK ") || line.StartsWith("FAIL ")).ToList();
            Assert.True(doctor.ExitCode == 0, doctor.Output);
            Assert.True(checks.Count >= 9, doctor.Output);
            Assert.All(checks, line => Assert.StartsWith("OK ", line));
            Assert.Contains($"doctor: all {checks.Count} checks passed", doctor.Output);
        }

        var recorded = RecordedProcesses();
        using (var down = await script.RunAsync("down"))
        {
            Assert.True(down.ExitCode == 0, down.Output);
        }

        await up.WaitForExitAsync(TimeSpan.FromSeconds(60));
        AssertNothingLeft(recorded);
    }

    [Fact]
    public async Task UpWorker_ServesThroughTheRpcHost_CtrlCStopsEverything()
    {
        using var up = script.Start(arguments: ["up", "--worker"]);
        await WaitForHealthAsync(up);
        using var http = new HttpClient();

        var challenge = await http.PostAsync(new Uri(script.AppUrl, "/mcp"), new StringContent("{}"));
        Assert.Equal(HttpStatusCode.Unauthorized, challenge.StatusCode);
        Assert.Contains("resource_metadata=", challenge.Headers.WwwAuthenticate.ToString());
        Assert.Contains("through the Functions RPC test host", up.Output);

        var recorded = RecordedProcesses();
        await up.InterruptAsync();
        AssertNothingLeft(recorded);
    }

    [Fact]
    public async Task Up_WhenThePortIsTaken_ExitsWithTheMessage()
    {
        var taken = FreePorts.Next();
        using var listener = new TcpListener(IPAddress.Loopback, taken);
        listener.Start();

        using var up = await script.RunAsync(new Dictionary<string, string> { ["NEOTOMA_PORT"] = taken.ToString() }, "up");

        Assert.Equal(1, up.ExitCode);
        Assert.Contains($"port {taken} is already in use; stop what listens there or set NEOTOMA_PORT", up.Output);
        Assert.False(File.Exists(Path.Combine(script.DataDirectory, "up.pid")), "a refused up left its PID file");
    }

    [Fact]
    public async Task Migrate_ThenRotateKey_OnTheLocalCluster()
    {
        using var migrate = await script.RunAsync("migrate");
        Assert.True(migrate.ExitCode == 0, migrate.Output);

        using var rotate = await script.RunAsync("rotate-key");
        Assert.True(rotate.ExitCode == 0, rotate.Output);
        Assert.Matches(@"re-encrypted \d+, already current \d+, unreadable 0", rotate.Output);
    }

    [Fact]
    public async Task RegisterEnterpriseClient_PrintsItsIdAndSecretOnce_AndRefusesWhatCannotAuthenticate()
    {
        using var made = await script.RunAsync("register-enterprise-client", "--name", "Acme assistant", "--client-id", "acme-verb-test");
        Assert.True(made.ExitCode == 0, made.Output);
        Assert.Contains("client_id: acme-verb-test", made.Output);
        Assert.Contains("token_endpoint_auth_method: client_secret_basic", made.Output);
        Assert.Matches(@"client_secret: [A-Za-z0-9_-]{43}", made.Output);

        using var again = await script.RunAsync("register-enterprise-client", "--name", "Acme assistant", "--client-id", "acme-verb-test");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("exists already", again.Output);
        using var keyless = await script.RunAsync("register-enterprise-client", "--name", "Signer", "--auth", "private_key_jwt");
        Assert.Equal(1, keyless.ExitCode);
        Assert.Contains("private_key_jwt needs --jwks-uri", keyless.Output);
    }

    [Fact]
    public async Task Idp_ServesTheProviderForFuncStart_CtrlCStopsIt()
    {
        using var idp = script.Start(arguments: "idp");
        using var http = new HttpClient();
        var discovery = new Uri($"http://localhost:{script.IdpPort}/.well-known/openid-configuration");
        await WaitForAsync(idp, async () => (await http.GetAsync(discovery)).IsSuccessStatusCode && idp.Output.Contains("func start"),
            "the dev provider's discovery document and the next step (func start)");

        await idp.InterruptAsync();

        Assert.False(PortListens(script.IdpPort), "the dev provider still listens after Ctrl-C");
        Assert.False(PortListens(script.PostgresPort), "PostgreSQL still listens after Ctrl-C");
        Assert.False(File.Exists(Path.Combine(script.DataDirectory, "idp.pid")), "idp.pid is left behind");
    }

    [Fact]
    public async Task Bench_WithAShortDuration_PrintsItsRows()
    {
        using var bench = await script.RunAsync(new Dictionary<string, string>
        {
            ["BENCH_SECONDS"] = "1", ["BENCH_ROUNDS"] = "1", ["BENCH_ONLY"] = "calls",
        }, "bench");

        output.WriteLine(bench.Output);
        Assert.True(bench.ExitCode == 0, bench.Output);
        Assert.Matches(@"neotoma\s+tools/call get_authenticated_user\s+16\s+\d+ .* 0\s+\d+", bench.Output);
        Assert.Contains("get_authenticated_user / bare echo", bench.Output);
    }

    /// <summary>
    /// Ctrl-C (SIGINT to the terminal's whole process group) ends the bench at once, also in a group
    /// that measures servers inside the bench's own process, whose hosts would otherwise take the signal
    /// for themselves and leave the bench measuring stopped servers for as long as its rows last.
    /// </summary>
    [Fact]
    public async Task Bench_CtrlC_EndsAGroupOfInProcessServersAtOnce()
    {
        var clustersBefore = Directory.GetDirectories("/tmp", "neotoma-test-pg.*").ToHashSet();
        using var bench = script.Start(new Dictionary<string, string> { ["BENCH_SECONDS"] = "600" }, ownProcessGroup: true, "bench", "calls");
        var started = Stopwatch.StartNew();
        while (!bench.Output.Contains("req/s", StringComparison.Ordinal))
        {
            Assert.False(bench.Process.HasExited, "the bench ended before its rows:\n" + bench.Output);
            Assert.True(started.Elapsed < TimeSpan.FromMinutes(4), "the bench printed no rows in 4 minutes:\n" + bench.Output);
            await Task.Delay(200);
        }

        var interrupted = Stopwatch.StartNew();
        await bench.InterruptGroupAsync();

        output.WriteLine(bench.Output);
        Assert.True(interrupted.Elapsed < TimeSpan.FromSeconds(20), $"the bench took {interrupted.Elapsed} to end after Ctrl-C");
        Assert.Contains("bench: stopped by SIGINT", bench.Output);
        Assert.DoesNotContain(Process.GetProcesses(), process => SafeCommandLine(process).Contains("Neotoma.Benchmarks calls", StringComparison.Ordinal));
        Assert.DoesNotContain(Directory.GetDirectories("/tmp", "neotoma-test-pg.*"), directory => !clustersBefore.Contains(directory));
    }

    /// <summary>
    /// The deciding rows run on a clean machine: wrk installed when missing, the app built and started
    /// in its own process, the references in theirs, pgbench as the floor; every row answered without
    /// error, and no server left running afterwards.
    /// </summary>
    [Fact]
    public async Task BenchWrk_WithAShortDuration_PrintsEveryRowWithoutErrors_AndStopsItsServers()
    {
        using var bench = await script.RunAsync(new Dictionary<string, string>
        {
            ["BENCH_SECONDS"] = "1", ["BENCH_ROUNDS"] = "1",
        }, "bench", "wrk", "allocations");

        output.WriteLine(bench.Output);
        Assert.True(bench.ExitCode == 0, bench.Output);
        Assert.Matches(@"cold start to the first answered retrieve_entities\(100\), median of 3: neotoma \d+ ms, simplest SDK server \d+ ms", bench.Output);
        foreach (var clients in new[] { 1, 16 })
        {
            foreach (var row in new[] { @"bare\s+tools/call echo", @"sdk\s+get_authenticated_user, SDK alone", @"neotoma\s+tools/call get_authenticated_user",
                         @"simple\s+simplest SDK tool, same SQL \(100\)", @"neotoma\s+tools/call retrieve_entities\(100\)" })
            {
                // target, operation, clients, req/s, p50, p95, p99, errors (0), the server's RSS, its CPU per answer
                Assert.Matches(row + $@"\s+{clients}\s+[1-9]\d*\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+0\s+\d+\s+[1-9]\d*\r?\n", bench.Output);
            }

            Assert.Matches($@"pgbench\s+retrieve \(prepared, pipelined\)\s+{clients}\s+[1-9]\d*\s+NaN\s+NaN\s+NaN\s+0\s+-", bench.Output);
            Assert.Matches($@"server CPU per answer at\s+{clients} client\(s\): get_authenticated_user [1-9]\d* µs, the same on the SDK alone [1-9]\d* µs, bare echo [1-9]\d* µs", bench.Output);
            Assert.Matches($@"at\s+{clients} client\(s\), the identity tool on the SDK alone / bare echo \d+\.\d\d, Neotoma / the identity tool on the SDK alone \d+\.\d\d", bench.Output);
        }

        Assert.Matches(@"app RSS after the wrk rows: \d+ MB", bench.Output);
        Assert.Matches(@"allocated per call, server side .* get_authenticated_user [\d.]+ KB, bare echo [\d.]+ KB .*, 0 errors", bench.Output);
        // A server still there 10 s after the bench ended was left running; its command line names it.
        var left = ServersTheBenchStarts();
        for (var waited = Stopwatch.StartNew(); left.Count > 0 && waited.Elapsed < TimeSpan.FromSeconds(10); left = ServersTheBenchStarts())
        {
            await Task.Delay(200);
        }

        Assert.True(left.Count == 0, "the bench left these running:\n" + string.Join('\n', left));
    }

    private static List<string> ServersTheBenchStarts() => Process.GetProcesses()
        .Select(process => $"{process.Id}: {SafeCommandLine(process)}")
        .Where(line => line.Contains("Neotoma.Benchmarks.dll serve ", StringComparison.Ordinal)
            || line.Contains($"{Path.DirectorySeparatorChar}Neotoma.Functions.dll selfhost --urls http://127.0.0.1:", StringComparison.Ordinal))
        .ToList();

    // A process's command line (Linux), or "" when it has gone or cannot be read.
    private static string SafeCommandLine(System.Diagnostics.Process process)
    {
        try
        {
            return File.ReadAllText($"/proc/{process.Id}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
        catch (UnauthorizedAccessException)
        {
            return "";
        }
    }

    private async Task WaitForHealthAsync(ScriptProcess up)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await WaitForAsync(up, async () => (await http.GetAsync(new Uri(script.AppUrl, "/api/health"))).StatusCode == HttpStatusCode.OK, "/api/health to answer 200");
    }

    /// <summary>Waits for <paramref name="ready"/> while the verb runs; a verb that exits or takes five minutes (a first build included) fails with what it printed.</summary>
    private static async Task WaitForAsync(ScriptProcess verb, Func<Task<bool>> ready, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (verb.Process.HasExited)
            {
                Assert.Fail($"./neotoma {verb.Verb} exited ({verb.ExitCode}) before {what}:\n{verb.Output}");
            }

            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(5), $"waited 5 minutes for {what}:\n{verb.Output}");
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Listening, not answering yet.
            }

            await Task.Delay(200);
        }
    }

    private Dictionary<string, int> RecordedProcesses() => PidFiles
        .Select(name => Path.Combine(script.DataDirectory, name))
        .Where(File.Exists)
        .ToDictionary(path => Path.GetFileName(path), path => int.Parse(File.ReadAllText(path).Trim()));

    private void AssertNothingLeft(Dictionary<string, int> recorded)
    {
        Assert.Contains("app.pid", recorded.Keys);
        foreach (var (file, pid) in recorded)
        {
            Assert.False(File.Exists(Path.Combine(script.DataDirectory, file)), $"{file} is left behind");
            Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z "), $"the process of {file} ({pid}) still runs");
        }

        Assert.False(PortListens(script.AppPort), "the app still listens");
        Assert.False(PortListens(script.IdpPort), "the dev provider still listens");
        // pg_ctl stop -w waits for the server to end, so the port is free once the script has returned.
        Assert.False(PortListens(script.PostgresPort), "PostgreSQL still listens");
    }

    private static bool PortListens(int port)
    {
        using var client = new TcpClient();
        try
        {
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
