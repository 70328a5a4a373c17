using Npgsql;

namespace Neotoma.Tests.Infrastructure;

/// <summary>One migrated database per test class.</summary>
public sealed class DatabaseFixture : IAsyncLifetime
{
    public string Name { get; private set; } = "";

    public string AppConnectionString => PostgresServer.AppConnectionString(Name);

    public NpgsqlDataSource AppDataSource { get; private set; } = null!;

    public NpgsqlDataSource AdminDataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Name = await PostgresServer.CreateMigratedDatabaseAsync();
        AppDataSource = NpgsqlDataSource.Create(AppConnectionString);
        AdminDataSource = NpgsqlDataSource.Create(PostgresServer.AdminConnectionStringFor(Name));
    }

    public async Task DisposeAsync()
    {
        await AppDataSource.DisposeAsync();
        await AdminDataSource.DisposeAsync();
        await PostgresServer.DropDatabaseAsync(Name);
    }

    /// <summary>Runs SQL as the superuser (row-level security does not bind it): for arranging and inspecting.</summary>
    public async Task<T?> AdminScalarAsync<T>(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var command = AdminDataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        var result = await command.ExecuteScalarAsync();
        return result is DBNull or null ? default : (T)result;
    }

    public async Task AdminExecuteAsync(string sql, params (string Name, object? Value)[] parameters)
    {
        await using var command = AdminDataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        await command.ExecuteNonQueryAsync();
    }
}
