using System.Diagnostics;
using Npgsql;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL cluster of one test's own (initdb, pg_ctl), for tests that restart or stop the
/// database: the shared cluster of `./neotoma test` must stay up for every other test class.
/// As root, the cluster belongs to the postgres user (initdb refuses root).
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable
{
    private const string Database = "neotoma";

    private readonly string directory;
    private readonly string bin;

    private readonly int? maxConnections;

    private PostgresCluster(string directory, string bin, int port, int? maxConnections)
    {
        this.directory = directory;
        this.bin = bin;
        this.maxConnections = maxConnections;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The app role's connection string (no superuser, row-level security applies).</summary>
    public string AppConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = Port, Database = Database, Username = PostgresServer.AppRole, Password = PostgresServer.AppPassword,
    }.ConnectionString;

    public string AdminConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = Path.Combine(directory, "run"), Port = Port, Database = Database, Username = "postgres", Pooling = false,
    }.ConnectionString;

    /// <param name="maxConnections">PostgreSQL's max_connections (3 of them reserved for superusers), as small as a Burstable server's.</param>
    public static async Task<PostgresCluster> StartAsync(int? maxConnections = null)
    {
        var bin = System.IO.Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
            .Where(System.IO.Directory.Exists).OrderBy(d => d, StringComparer.Ordinal).LastOrDefault()
            ?? throw new InvalidOperationException("No PostgreSQL binaries under /usr/lib/postgresql (./neotoma test installs them).");
        var directory = System.IO.Directory.CreateTempSubdirectory("neotoma-own-pg-").FullName;
        var cluster = new PostgresCluster(directory, bin, FreePorts.Next(), maxConnections);
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", "postgres", directory);
        }

        await cluster.AsPostgresAsync("initdb", "-D", Path.Combine(directory, "data"), "-U", "postgres", "-E", "UTF8", "--locale=C", "--lc-ctype=C.UTF-8",
            "--auth-local=trust", "--auth-host=scram-sha-256");
        await cluster.AsPostgresAsync("mkdir", "-p", Path.Combine(directory, "run"));
        await cluster.StartServerAsync();
        await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(cluster.AdminConnectionString) { Database = "postgres" }.ConnectionString))
        {
            await connection.OpenAsync();
            foreach (var sql in new[]
            {
                $"CREATE ROLE {PostgresServer.AppRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD '{PostgresServer.AppPassword}'",
                $"CREATE DATABASE {Database} OWNER {PostgresServer.AppRole}",
            })
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync();
            }
        }

        return cluster;
    }

    /// <summary>A fast restart (pg_ctl -m fast): every connection is cut, the server is back about a second later.</summary>
    public Task RestartAsync() =>
        AsPostgresAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(directory, "data"), "-m", "fast", "-w", "restart",
            "-o", Options(), "-l", Path.Combine(directory, "postgres.log"));

    public Task StopAsync() => AsPostgresAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(directory, "data"), "-m", "fast", "-w", "stop");

    public Task StartServerAsync() =>
        AsPostgresAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(directory, "data"), "-w", "-t", "60",
            "-o", Options(), "-l", Path.Combine(directory, "postgres.log"), "start");

    private string Options() => $"-p {Port} -k {Path.Combine(directory, "run")} -c listen_addresses=127.0.0.1 -c fsync=off"
        + (maxConnections is { } max ? $" -c max_connections={max}" : "");

    /// <summary>The directory the cluster lives in, owned by the postgres user: where a pooler beside it keeps its files.</summary>
    public string Directory => directory;

    public async Task<T?> AdminScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var result = await command.ExecuteScalarAsync();
        return result is DBNull or null ? default : (T)result;
    }

    private Task AsPostgresAsync(string program, params string[] arguments) =>
        Environment.UserName == "root" ? RunAsync("runuser", ["-u", "postgres", "--", program, .. arguments]) : RunAsync(program, arguments);

    private static async Task RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {await output}{await errors}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            await AsPostgresAsync(Path.Combine(bin, "pg_ctl"), "-D", Path.Combine(directory, "data"), "-m", "immediate", "-w", "stop");
        }
        catch (InvalidOperationException)
        {
            // Already stopped by the test.
        }

        System.IO.Directory.Delete(directory, recursive: true);
    }
}
