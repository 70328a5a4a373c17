using Microsoft.Extensions.Logging.Abstractions;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The throwaway PostgreSQL that `./neotoma test` starts (NEOTOMA_TEST_PG is its superuser
/// connection string). A template database is migrated once per run; each test class
/// clones it, which costs tens of milliseconds.
/// </summary>
public static class PostgresServer
{
    public const string AppRole = "neotoma_app";
    public const string AppPassword = "neotoma-test";
    private const string TemplateName = "neotoma_template";

    private static readonly SemaphoreSlim TemplateLock = new(1, 1);
    private static readonly Lazy<Task> Role = new(CreateRoleAsync);
    private static bool templateReady;

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable("NEOTOMA_TEST_PG")
        ?? throw new InvalidOperationException(
            "NEOTOMA_TEST_PG is not set: run the tests with ./neotoma test, which starts a throwaway PostgreSQL.");

    public static string AppConnectionString(string database, bool pooling = true)
    {
        var admin = new NpgsqlConnectionStringBuilder(AdminConnectionString);
        return new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = admin.Port,
            Database = database,
            Username = AppRole,
            Password = AppPassword,
            Pooling = pooling,
        }.ConnectionString;
    }

    public static string AdminConnectionStringFor(string database) =>
        new NpgsqlConnectionStringBuilder(AdminConnectionString) { Database = database }.ConnectionString;

    /// <summary>A fresh, migrated database owned by the app role.</summary>
    public static async Task<string> CreateMigratedDatabaseAsync()
    {
        await EnsureTemplateAsync();
        var name = "t_" + Guid.NewGuid().ToString("N");
        await AdminExecuteAsync($"CREATE DATABASE {name} TEMPLATE {TemplateName} OWNER {AppRole}");
        return name;
    }

    /// <summary>An empty database owned by the app role, for migration tests.</summary>
    public static async Task<string> CreateEmptyDatabaseAsync()
    {
        await EnsureRoleAsync();
        var name = "e_" + Guid.NewGuid().ToString("N");
        await AdminExecuteAsync($"CREATE DATABASE {name} OWNER {AppRole}");
        return name;
    }

    public static Task DropDatabaseAsync(string name)
    {
        NpgsqlConnection.ClearAllPools();
        return AdminExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    public static async Task AdminExecuteAsync(string sql, string database = "postgres")
    {
        await using var connection = new NpgsqlConnection(AdminConnectionStringFor(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Once per run: test classes run in parallel and CREATE ROLE is not idempotent under races.</summary>
    private static Task EnsureRoleAsync() => Role.Value;

    private static async Task CreateRoleAsync()
    {
        await AdminExecuteAsync($"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{AppRole}') THEN
                CREATE ROLE {AppRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD '{AppPassword}';
              END IF;
            END $$
            """);
    }

    private static async Task EnsureTemplateAsync()
    {
        await TemplateLock.WaitAsync();
        try
        {
            if (templateReady)
            {
                return;
            }

            await EnsureRoleAsync();
            await AdminExecuteAsync($"DROP DATABASE IF EXISTS {TemplateName} WITH (FORCE)");
            await AdminExecuteAsync($"CREATE DATABASE {TemplateName} OWNER {AppRole}");

            // Pooling off: a pooled idle connection to the template would make every clone fail.
            var connectionString = AppConnectionString(TemplateName, pooling: false);
            await using var dataSource = NpgsqlDataSource.Create(connectionString);
            var migrator = new DatabaseMigrator(dataSource,
                NullLogger<DatabaseMigrator>.Instance);
            await migrator.MigrateAsync(CancellationToken.None);
            templateReady = true;
        }
        finally
        {
            TemplateLock.Release();
        }
    }
}
