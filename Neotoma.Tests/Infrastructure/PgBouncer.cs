using System.Diagnostics;
using Npgsql;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// Debian's PgBouncer (1.18) in transaction mode in front of a <see cref="PostgresCluster"/>, run as
/// the postgres user, as Azure's built-in PgBouncer fronts a General Purpose server. 1.18 keeps no
/// protocol-level prepared statements across transactions, so clients connect with Max Auto Prepare=0.
/// </summary>
public sealed class PgBouncer : IAsyncDisposable
{
    private readonly Process process;

    private PgBouncer(Process process, int port)
    {
        this.process = process;
        Port = port;
    }

    public int Port { get; }

    /// <summary>The app role through the pooler: no auto-prepare, no reset query (the pooler owns server sessions).</summary>
    public string AppConnectionString(int maxPoolSize) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = Port, Database = "neotoma", Username = PostgresServer.AppRole, Password = PostgresServer.AppPassword,
        MaxAutoPrepare = 0, NoResetOnClose = true, MaxPoolSize = maxPoolSize,
    }.ConnectionString;

    public static async Task<PgBouncer> StartAsync(PostgresCluster cluster, int serverPoolSize)
    {
        const string executable = "/usr/sbin/pgbouncer";
        if (!File.Exists(executable))
        {
            throw new InvalidOperationException($"{executable} is missing: install the Debian package `pgbouncer` (./neotoma test does).");
        }

        var port = FreePorts.Next();
        var ini = Path.Combine(cluster.Directory, "pgbouncer.ini");
        await File.WriteAllTextAsync(Path.Combine(cluster.Directory, "userlist.txt"), $"\"{PostgresServer.AppRole}\" \"{PostgresServer.AppPassword}\"\n");
        await File.WriteAllTextAsync(ini, $"""
            [databases]
            neotoma = host=127.0.0.1 port={cluster.Port} dbname=neotoma
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = {Path.Combine(cluster.Directory, "userlist.txt")}
            pool_mode = transaction
            default_pool_size = {serverPoolSize}
            max_client_conn = 1000
            ignore_startup_parameters = extra_float_digits
            logfile = {Path.Combine(cluster.Directory, "pgbouncer.log")}
            pidfile = {Path.Combine(cluster.Directory, "pgbouncer.pid")}
            """);
        var start = new ProcessStartInfo(Environment.UserName == "root" ? "runuser" : executable)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in Environment.UserName == "root" ? ["-u", "postgres", "--", executable, ini] : new[] { ini })
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start)!;
        var bouncer = new PgBouncer(process, port);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var connection = new NpgsqlConnection(bouncer.AppConnectionString(1) + ";Pooling=false");
                await connection.OpenAsync();
                return bouncer;
            }
            catch (Exception) when (attempt < 50 && !process.HasExited)
            {
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }

        process.Dispose();
    }
}
