using System.Diagnostics;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>
/// infra/hooks/postprovision.sh, which azd runs as the operator after provisioning, against a local
/// PostgreSQL that stands in for Azure's: <c>pgaadauth_create_principal</c> (Azure's own function,
/// absent here) is replaced by one that creates the role the same way, and <c>azd</c> and <c>az</c>
/// by scripts answering what the hook asks them. What is proven: the SQL, the psql invocation and the
/// rights the app's role ends up with; not Azure's token or its real function.
/// </summary>
public sealed class PostProvisionHookTests : IAsyncLifetime
{
    private const string AppRole = "neotoma-prod-abc123-func";
    private const string Database = "neotoma_hook";

    private PostgresCluster cluster = null!;
    private string shims = null!;

    public async Task InitializeAsync()
    {
        cluster = await PostgresCluster.StartAsync();
        await cluster.AdminScalarAsync<object>($"CREATE DATABASE {Database}");
        await using (var connection = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(cluster.AdminConnectionString) { Database = "postgres" }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var stub = new Npgsql.NpgsqlCommand("""
                CREATE FUNCTION pgaadauth_create_principal(role_name text, is_admin boolean, is_mfa boolean) RETURNS text
                LANGUAGE plpgsql AS $$
                BEGIN
                    EXECUTE format('CREATE ROLE %I LOGIN', role_name);
                    RETURN 'Created role for ' || role_name;
                END $$;
                """, connection);
            await stub.ExecuteNonQueryAsync();
        }

        shims = Directory.CreateTempSubdirectory("neotoma-hook-shims-").FullName;
        var socket = new Npgsql.NpgsqlConnectionStringBuilder(cluster.AdminConnectionString).Host!;
        await Shim("azd", $"""
            case "$3" in
              POSTGRES_HOST) echo "{socket}" ;;
              POSTGRES_DATABASE) echo "{Database}" ;;
              AZURE_FUNCTION_APP_NAME) echo "{AppRole}" ;;
              POSTGRES_ADMIN_NAME) echo "postgres" ;;
              *) exit 1 ;;
            esac
            """);
        await Shim("az", "echo not-a-real-entra-token");
    }

    private async Task Shim(string name, string body)
    {
        var path = Path.Combine(shims, name);
        await File.WriteAllTextAsync(path, "#!/bin/sh\n" + body + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    private async Task<(int ExitCode, string Output)> RunHookAsync()
    {
        var start = new ProcessStartInfo("sh", [Path.Combine(DevIdentityProvider.RepositoryRoot(), "infra", "hooks", "postprovision.sh")])
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["PATH"] = shims + ":" + Environment.GetEnvironmentVariable("PATH");
        start.Environment["POSTGRES_PORT"] = cluster.Port.ToString();
        start.Environment["POSTGRES_SSLMODE"] = "disable";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output + await errors);
    }

    [Fact]
    public async Task Hook_GivesTheAppItsOwnRole_ThatMayCreateItsTablesOnly_AndCanRunAgain()
    {
        var first = await RunHookAsync();
        var again = await RunHookAsync();

        Assert.True(first.ExitCode == 0, first.Output);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.Contains($"role \"{AppRole}\" may create its tables in database \"{Database}\"", again.Output);
        Assert.True(await cluster.AdminScalarAsync<bool>($"SELECT has_database_privilege('{AppRole}', '{Database}', 'CONNECT')"));
        await using (var connection = new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(cluster.AdminConnectionString) { Database = Database }.ConnectionString))
        {
            await connection.OpenAsync();
            await using var check = new Npgsql.NpgsqlCommand($"SELECT has_schema_privilege('{AppRole}', 'public', 'CREATE')", connection);
            Assert.True((bool)(await check.ExecuteScalarAsync())!);
        }

        Assert.Equal("f,f,f,f", await cluster.AdminScalarAsync<string>(
            $"SELECT concat_ws(',', rolsuper, rolcreaterole, rolcreatedb, rolbypassrls) FROM pg_roles WHERE rolname = '{AppRole}'"));
    }

    public async Task DisposeAsync()
    {
        await cluster.DisposeAsync();
        Directory.Delete(shims, recursive: true);
    }
}
