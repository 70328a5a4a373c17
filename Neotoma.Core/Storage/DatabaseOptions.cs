using Npgsql;

namespace Neotoma.Core.Storage;

public sealed record DatabaseOptions
{
    public required string ConnectionString { get; set; }

    public bool MigrateOnStartup { get; set; } = true;

    /// <summary>"password" (in the connection string) or "entra" (tokens of the app's managed identity): DATABASE_AUTH.</summary>
    public string Auth { get; set; } = "password";

    /// <summary>
    /// The server's direct port behind a transaction-mode pooler (DATABASE_DIRECT_CONNECTION_STRING): migrations (a
    /// session advisory lock) and LISTEN need a session of their own. Null: <see cref="ConnectionString"/>.
    /// </summary>
    public string? DirectConnectionString { get; set; }

    /// <summary>
    /// How long opening a connection may wait for the pool (DATABASE_POOL_WAIT_SECONDS): Npgsql's
    /// <c>Timeout</c>, which bounds both the wait for a pooled connection and a new connection's set-up.
    /// Npgsql's own default of 15 s let an overloaded instance queue callers for tens of seconds.
    /// </summary>
    public int PoolWaitSeconds { get; set; } = DefaultPoolWaitSeconds;

    public const int DefaultPoolWaitSeconds = 2;

    public const int MaxPoolWaitSeconds = 30;

    /// <summary>Where the database is, for log lines and errors: never the password.</summary>
    public string Describe()
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
        return $"host={builder.Host} port={builder.Port} database={builder.Database} user={builder.Username}";
    }
}
