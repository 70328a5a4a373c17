using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;

// Servers as people run them (each in its own process, as `./neotoma up` starts the app) and load
// generators that are not .NET (wrk over HTTP, pgbench for the database), so that no row's numbers
// include the load generator's own work or another server's garbage collections.

/// <summary>
/// A server started in its own process, its output in a log file; stopped when disposed, and when the
/// bench ends any other way (an exception, Ctrl-C, a TERM), so no server outlives the run on its port.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<ChildProcess, bool> Running = new();

    private readonly Process process;

    private static System.Runtime.InteropServices.PosixSignalRegistration[]? signals;

    static ChildProcess() => AppDomain.CurrentDomain.ProcessExit += (_, _) => StopAll();

    /// <summary>
    /// From now on Ctrl-C and TERM end the bench at once, its servers first. Called as the bench starts,
    /// whatever its groups: the in-process hosts' own handlers would only stop those hosts and leave the
    /// measuring going on against them.
    /// </summary>
    public static void EndOnSignals() => signals ??=
    [
        System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Interrupted),
        System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Interrupted),
    ];

    private static void Interrupted(System.Runtime.InteropServices.PosixSignalContext context)
    {
        StopAll();
        Console.Error.WriteLine($"bench: stopped by {context.Signal}");
        Environment.Exit(130);
    }

    private ChildProcess(Process process, string log)
    {
        this.process = process;
        Log = log;
        Running[this] = true;
    }

    public string Log { get; }

    public bool HasExited => process.HasExited;

    /// <summary>Starts <paramref name="arguments"/> through <c>sh -c 'exec …'</c>, so the process started is the server itself (its RSS is the server's) and its output goes to <paramref name="log"/>.</summary>
    public static ChildProcess Start(IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment, string log)
    {
        var start = ExternalProgram.StartInfo("/bin/sh", ["-c", "log=\"$1\"; shift; exec \"$@\" >>\"$log\" 2>&1", "sh", log, .. arguments], environment);
        return new ChildProcess(Process.Start(start) ?? throw new InvalidOperationException($"could not start {arguments[0]}"), log);
    }

    /// <summary>The server's resident memory now (VmRSS), in MB.</summary>
    public long ResidentMegabytes()
    {
        foreach (var line in File.ReadLines($"/proc/{process.Id}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
            }
        }

        return -1;
    }

    /// <summary>The CPU time the server has used so far, user and system (utime and stime of /proc/[pid]/stat).</summary>
    public TimeSpan CpuTime()
    {
        // The fields after the command's closing parenthesis: the state is the first, utime the 12th, stime the 13th.
        var stat = File.ReadAllText($"/proc/{process.Id}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond.Value);
    }

    private static readonly Lazy<long> ClockTicksPerSecond = new(() =>
        long.Parse(ExternalProgram.RunToEndAsync("getconf", ["CLK_TCK"], new Dictionary<string, string>()).GetAwaiter().GetResult().Trim(), CultureInfo.InvariantCulture));

    public async ValueTask DisposeAsync()
    {
        Stop();
        await process.WaitForExitAsync();
        Running.TryRemove(this, out _);
        process.Dispose();
    }

    private void Stop()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Exited (or disposed) meanwhile.
        }
    }

    private static void StopAll()
    {
        foreach (var child in Running.Keys)
        {
            child.Stop();
        }
    }
}

/// <summary>One slice of a row measured by a load generator outside this process.</summary>
/// <param name="P50">Milliseconds; NaN where the generator reports no percentiles (pgbench).</param>
internal sealed record OutsideSample(long Requests, double Seconds, long Errors, double P50, double P95, double P99)
{
    /// <summary>The server's CPU time per answer without error, in microseconds; NaN where the server is not a process the bench started.</summary>
    public double ServerCpuMicroseconds { get; init; } = double.NaN;

    /// <summary>Answers without error a second: a failed answer (often a fast one) never counts as throughput.</summary>
    public double PerSecond => (Requests - Errors) / Seconds;
}

/// <summary>wrk (a C load generator) posting one JSON-RPC message to /mcp as a client does, every answer checked.</summary>
internal static class Wrk
{
    /// <summary>
    /// Runs wrk with one thread and <paramref name="connections"/> keep-alive connections for
    /// <paramref name="duration"/>. An answer counts as an error unless it is a 200 whose body holds
    /// no JSON-RPC error and no tool error; so do wrk's socket errors and timeouts.
    /// </summary>
    public static async Task<OutsideSample> RunAsync(string url, string? bearer, string body, int connections, TimeSpan duration, string directory)
    {
        var script = Path.Combine(directory, $"wrk-{Guid.NewGuid():N}.lua");
        await File.WriteAllTextAsync(script, Script(bearer, body));
        try
        {
            var output = await ExternalProgram.RunToEndAsync("wrk", ["-t1", $"-c{connections}", $"-d{Math.Max(1, (int)Math.Round(duration.TotalSeconds))}s",
                "--timeout", "10s", "-s", script, url], new Dictionary<string, string>());
            var summary = output.Split('\n').LastOrDefault(line => line.StartsWith("{\"requests\"", StringComparison.Ordinal))
                ?? throw new InvalidOperationException("wrk printed no summary:\n" + output);
            using var json = JsonDocument.Parse(summary);
            var root = json.RootElement;
            return new OutsideSample(root.GetProperty("requests").GetInt64(), root.GetProperty("microseconds").GetDouble() / 1e6,
                root.GetProperty("errors").GetInt64(), root.GetProperty("p50").GetDouble() / 1000, root.GetProperty("p95").GetDouble() / 1000,
                root.GetProperty("p99").GetDouble() / 1000);
        }
        finally
        {
            File.Delete(script);
        }
    }

    // Each wrk thread has its own Lua state: the threads are kept at setup and their counts summed when done.
    private static string Script(string? bearer, string body) => $$"""
        wrk.method = "POST"
        wrk.body = [==[{{body}}]==]
        wrk.headers["Content-Type"] = "application/json"
        wrk.headers["Accept"] = "application/json, text/event-stream"
        wrk.headers["MCP-Protocol-Version"] = "2025-11-25"
        {{(bearer is null ? "" : $"wrk.headers[\"Authorization\"] = \"Bearer {bearer}\"")}}
        local threads = {}
        function setup(thread) table.insert(threads, thread) end
        function init(args) bad = 0 end
        function response(status, headers, body)
          if status ~= 200 or body:find('"isError":true', 1, true) or body:find('"error":', 1, true) then bad = bad + 1 end
        end
        function done(summary, latency, requests)
          local failed = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
          for _, thread in ipairs(threads) do failed = failed + thread:get("bad") end
          io.write(string.format('{"requests":%d,"microseconds":%d,"errors":%d,"p50":%d,"p95":%d,"p99":%d}\n',
            summary.requests, summary.duration, failed, latency:percentile(50), latency:percentile(95), latency:percentile(99)))
        end
        """;
}

/// <summary>pgbench running one statement as the app runs it: prepared, the person set in the same round trip (a pipeline, one sync).</summary>
internal static partial class Pgbench
{
    /// <summary>
    /// A pgbench script for <paramref name="sql"/> as <paramref name="person"/>: each <c>@name</c> of the
    /// statement replaced by the text <paramref name="values"/> gives it; a pgbench variable there (such
    /// as <c>:limit</c>, set from <paramref name="variables"/>) is sent as a parameter of the prepared statement.
    /// </summary>
    public static string Script(string person, string sql, IReadOnlyDictionary<string, string> values, IReadOnlyDictionary<string, string> variables)
    {
        var statement = ParameterName().Replace(sql, match => values.TryGetValue(match.Groups[1].Value, out var value)
            ? value
            : throw new InvalidOperationException($"the statement's parameter @{match.Groups[1].Value} has no value in the pgbench script"));
        var script = new StringBuilder();
        foreach (var (name, value) in variables)
        {
            script.Append(CultureInfo.InvariantCulture, $"\\set {name} {value}\n");
        }

        // A statement may span lines; its semicolon ends it.
        script.Append("\\startpipeline\n");
        script.Append(CultureInfo.InvariantCulture, $"SELECT set_config('neotoma.user_id', '{person}', true);\n");
        script.Append(statement).Append(";\n");
        script.Append("\\endpipeline\n");
        return script.ToString();
    }

    /// <summary>Runs <paramref name="script"/> prepared with <paramref name="clients"/> connections; transactions per second, failed transactions.</summary>
    public static async Task<OutsideSample> RunAsync(string pgbench, string connectionString, string script, int clients, TimeSpan duration, string directory)
    {
        var file = Path.Combine(directory, $"pgbench-{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, script);
        try
        {
            var database = new NpgsqlConnectionStringBuilder(connectionString);
            var seconds = Math.Max(1, (int)Math.Round(duration.TotalSeconds));
            var output = await ExternalProgram.RunToEndAsync(pgbench, ["-n", "-M", "prepared", "-f", file, "-c", clients.ToString(CultureInfo.InvariantCulture),
                "-j", Math.Min(clients, 2).ToString(CultureInfo.InvariantCulture), "-T", seconds.ToString(CultureInfo.InvariantCulture),
                "-h", database.Host!, "-p", database.Port.ToString(CultureInfo.InvariantCulture), "-U", database.Username!, database.Database!],
                new Dictionary<string, string> { ["PGPASSWORD"] = database.Password ?? "" });
            var processed = long.Parse(Transactions().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
            var perSecond = double.Parse(TransactionsPerSecond().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
            var failed = Failed().Match(output) is { Success: true } failure ? long.Parse(failure.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
            // "Processed" counts the transactions that succeeded; the failed ones are counted apart.
            return new OutsideSample(processed + failed, processed / perSecond, failed, double.NaN, double.NaN, double.NaN);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [GeneratedRegex(@"@(\w+)")]
    private static partial Regex ParameterName();

    [GeneratedRegex(@"number of transactions actually processed: (\d+)")]
    private static partial Regex Transactions();

    [GeneratedRegex(@"tps = ([\d.]+) \(without initial connection time\)")]
    private static partial Regex TransactionsPerSecond();

    [GeneratedRegex(@"number of failed transactions: (\d+)")]
    private static partial Regex Failed();
}

/// <summary>Programs this process starts: servers in their own processes, and wrk and pgbench run to their end.</summary>
internal static class ExternalProgram
{
    /// <summary>How to start <paramref name="fileName"/>: the arguments passed as they are (no shell), this process's environment plus <paramref name="environment"/>.</summary>
    public static ProcessStartInfo StartInfo(string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(fileName) { UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>Its standard output; throws with everything it printed when it exits non-zero.</summary>
    public static async Task<string> RunToEndAsync(string fileName, IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string> environment)
    {
        var start = StartInfo(fileName, arguments, environment);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{fileName} exited with {process.ExitCode}:\n{await output}\n{await errors}");
        }

        return await output;
    }
}
