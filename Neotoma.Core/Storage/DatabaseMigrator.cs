using System.Reflection;
using DbUp;
using DbUp.Postgresql;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>A set of numbered SQL scripts embedded in an assembly under one resource prefix.</summary>
public sealed record MigrationScripts(Assembly Assembly, string ResourcePrefix)
{
    /// <summary>Neotoma's own migrations: Neotoma.Core/Storage/Migrations/*.sql.</summary>
    public static MigrationScripts Neotoma { get; } = new(typeof(MigrationScripts).Assembly, "Neotoma.Core.Storage.Migrations.");

    /// <summary>
    /// The last migration these scripts go to (e.g. <c>0016_entity_search_index</c>), or null for all of
    /// them: a database brought to an earlier version, as an upgrade finds it.
    /// </summary>
    public string? Through { get; init; }

    /// <summary>Migration names (e.g. <c>0001_oauth</c>) in the order they apply.</summary>
    public IReadOnlyList<string> Names => Assembly.GetManifestResourceNames()
        .Where(Contains)
        .Select(ToMigrationName)
        .Order(StringComparer.Ordinal)
        .ToArray();

    public string? Latest => Names.LastOrDefault();

    public bool Contains(string resourceName) => resourceName.StartsWith(ResourcePrefix, StringComparison.Ordinal)
        && (Through is null || string.CompareOrdinal(ToMigrationName(resourceName), Through) <= 0);

    public string ToMigrationName(string resourceName)
    {
        var name = resourceName.StartsWith(ResourcePrefix, StringComparison.Ordinal) ? resourceName[ResourcePrefix.Length..] : resourceName;
        return name.EndsWith(".sql", StringComparison.Ordinal) ? name[..^4] : name;
    }
}

/// <summary>
/// Applies the numbered scripts in Storage/Migrations with DbUp, each in its own
/// transaction (but those marked <see cref="NoTransactionMarker"/>), under a PostgreSQL advisory lock so that instances starting together
/// take turns instead of racing on the same DDL.
/// </summary>
public sealed class DatabaseMigrator
{
    // "NEOTOMA" in ASCII: any fixed 64-bit number works, this one is easy to recognise in pg_locks.
    internal const long AdvisoryLockKey = 0x4E454F544F4D41;

    private readonly NpgsqlDataSource dataSource;
    private readonly ILogger<DatabaseMigrator> logger;
    private readonly MigrationScripts scripts;

    public DatabaseMigrator(NpgsqlDataSource dataSource, ILogger<DatabaseMigrator> logger)
        : this(dataSource, logger, MigrationScripts.Neotoma)
    {
    }

    internal DatabaseMigrator(NpgsqlDataSource dataSource, ILogger<DatabaseMigrator> logger, MigrationScripts scripts)
    {
        this.dataSource = dataSource;
        this.logger = logger;
        this.scripts = scripts;
    }

    public async Task<MigrationOutcome> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken);
        // Polled rather than waited for in one statement: a waiting statement is a running transaction,
        // and CREATE INDEX CONCURRENTLY in the holder's migration waits for every running transaction
        // to end, so the two would wait for each other.
        while (!(bool)(await ExecuteLockAsync(lockConnection, "SELECT pg_try_advisory_lock(@key)", cancellationToken))!)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }

        try
        {
            // Runs of consecutive scripts that share a transaction mode, in order: most run each in a
            // transaction; one marked NoTransactionMarker (CREATE INDEX CONCURRENTLY, which PostgreSQL
            // refuses inside a transaction, so a large table keeps taking writes) runs statement by statement.
            var applied = new List<string>();
            foreach (var run in Runs())
            {
                var builder = DeployChanges.To
                    .PostgresqlDatabase(new PostgresqlConnectionManager(dataSource))
                    .WithScriptsEmbeddedInAssembly(scripts.Assembly, run.Resources.Contains)
                    // Scripts are plain PostgreSQL: $$ and $tag$ quote function bodies, they are not DbUp variables.
                    .WithVariablesDisabled()
                    // Not the 30 s a command gets by default: a script that copies or indexes a large
                    // table takes longer (0017: 15 s at a million entities), and one cut off is retried at
                    // every start, holding its locks each time.
                    .WithExecutionTimeout(MigrationTimeout)
                    .LogTo(logger);
                var upgrader = (run.InTransaction ? builder.WithTransactionPerScript() : builder.WithoutTransaction()).Build();
                var result = upgrader.PerformUpgrade();
                if (!result.Successful)
                {
                    var file = result.ErrorScript is null ? "(unknown script)" : scripts.ToMigrationName(result.ErrorScript.Name) + ".sql";
                    throw new MigrationFailedException(file, result.Error);
                }

                applied.AddRange(result.Scripts.Select(script => scripts.ToMigrationName(script.Name)));
            }

            return new MigrationOutcome(applied, scripts.Latest);
        }
        finally
        {
            await ExecuteLockAsync(lockConnection, "SELECT pg_advisory_unlock(@key)", CancellationToken.None);
        }
    }

    /// <summary>
    /// The first line of a script that must run outside a transaction. Such a script is written to be
    /// run again after a failure part-way (each index dropped if present, then built).
    /// </summary>
    internal const string NoTransactionMarker = "-- neotoma: no transaction";

    /// <summary>How long one statement of a migration may run.</summary>
    private static readonly TimeSpan MigrationTimeout = TimeSpan.FromHours(1);

    private IEnumerable<(bool InTransaction, HashSet<string> Resources)> Runs()
    {
        (bool InTransaction, HashSet<string> Resources)? run = null;
        foreach (var resource in scripts.Assembly.GetManifestResourceNames().Where(scripts.Contains).Order(StringComparer.Ordinal))
        {
            using var reader = new StreamReader(scripts.Assembly.GetManifestResourceStream(resource)!);
            var inTransaction = reader.ReadLine()?.Trim() != NoTransactionMarker;
            if (run is { } current && current.InTransaction == inTransaction)
            {
                current.Resources.Add(resource);
                continue;
            }

            if (run is { } finished)
            {
                yield return finished;
            }

            run = (inTransaction, [resource]);
        }

        if (run is { } last)
        {
            yield return last;
        }
    }

    /// <summary>The newest Neotoma migration recorded in DbUp's journal, or null when none has run.</summary>
    public static async Task<string?> ReadAppliedVersionAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT scriptname FROM schemaversions WHERE scriptname LIKE @prefix ORDER BY scriptname DESC LIMIT 1");
        command.Parameters.AddWithValue("prefix", MigrationScripts.Neotoma.ResourcePrefix + "%");
        try
        {
            var name = await command.ExecuteScalarAsync(cancellationToken) as string;
            return name is null ? null : MigrationScripts.Neotoma.ToMigrationName(name);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return null;
        }
    }

    private static async Task<object?> ExecuteLockAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddWithValue("key", AdvisoryLockKey);
        return await command.ExecuteScalarAsync(cancellationToken);
    }
}

public sealed record MigrationOutcome(IReadOnlyList<string> Applied, string? CurrentVersion);

/// <summary>A migration script failed; its transaction was rolled back and the schema is as it was.</summary>
public sealed class MigrationFailedException(string file, Exception? inner)
    : Exception($"Migration {file} failed and was rolled back: {inner?.Message}", inner)
{
    public string File { get; } = file;
}
