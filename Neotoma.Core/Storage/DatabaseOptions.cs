using Npgsql;

namespace Neotoma.Core.Storage;

public sealed record DatabaseOptions
{
    public required string ConnectionString { get; init; }

    public bool MigrateOnStartup { get; init; } = true;

    /// <summary>Where the database is, for log lines and errors: never the password.</summary>
    public string Describe()
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"host={builder.Host} port={builder.Port} database={builder.Database} user={builder.Username}";
    }
}
