using Microsoft.Extensions.Logging.Abstractions;
using Neotoma.Core.Storage;
using Neotoma.Tests.Infrastructure;
using Npgsql;

namespace Neotoma.Tests.Foundation;

public sealed class MigrationTests
{
    [Fact]
    public async Task Migrate_CreatesTheGuideTablesWithRowLevelSecurityOn()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            var outcome = await MigrateAsync(database, MigrationScripts.Neotoma);

            Assert.Equal(MigrationScripts.Neotoma.Names, outcome.Applied);
            // The guide's security check, verbatim.
            var rows = await QueryAsync(database,
                "SELECT tablename, rowsecurity FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'mcp_oauth%' ORDER BY tablename");
            Assert.Contains(("mcp_oauth_connections", true), rows);
            Assert.Contains(("mcp_oauth_state", true), rows);
            Assert.All(rows, row => Assert.True(row.Item2, $"{row.Item1} has row-level security off"));
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_CreatesEveryColumnTheGuideQueries()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await MigrateAsync(database, MigrationScripts.Neotoma);
            // The guide's debug queries must run as written.
            await using var dataSource = NpgsqlDataSource.Create(PostgresServer.AdminConnectionStringFor(database));
            foreach (var sql in new[]
            {
                "SELECT connection_id, expires_at, created_at FROM mcp_oauth_state WHERE expires_at > NOW()",
                "SELECT * FROM mcp_oauth_state WHERE state = 'your-state-token'",
                "SELECT connection_id, user_id, client_name, created_at, last_used_at, revoked_at FROM mcp_oauth_connections WHERE revoked_at IS NULL ORDER BY created_at DESC",
                "SELECT refresh_token FROM mcp_oauth_connections LIMIT 1",
                "SELECT COUNT(*) FROM mcp_oauth_state WHERE created_at < NOW() - INTERVAL '10 minutes'",
            })
            {
                await using var command = dataSource.CreateCommand(sql);
                await command.ExecuteNonQueryAsync();
            }
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_IsANoOpTheSecondTime()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await MigrateAsync(database, MigrationScripts.Neotoma);
            var second = await MigrateAsync(database, MigrationScripts.Neotoma);

            Assert.Empty(second.Applied);
            Assert.Equal(MigrationScripts.Neotoma.Latest, second.CurrentVersion);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_FromSeveralInstancesAtOnce_AppliesEachScriptOnce()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            var outcomes = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => MigrateAsync(database, MigrationScripts.Neotoma)));

            Assert.Equal(MigrationScripts.Neotoma.Names, outcomes.SelectMany(o => o.Applied).Order(StringComparer.Ordinal));
            var journal = await QueryAsync(database, "SELECT scriptname, true FROM schemaversions");
            Assert.Equal(MigrationScripts.Neotoma.Names.Count, journal.Count);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    /// <summary>
    /// Issue 26: the read indexes on tables that may already be large are built CONCURRENTLY, which
    /// PostgreSQL refuses inside a transaction: that the migration succeeds and leaves each index valid
    /// shows its script ran outside one, while every other script keeps its transaction.
    /// </summary>
    [Fact]
    public async Task Migrate_BuildsTheReadIndexesConcurrently_OutsideATransaction_EachValid()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await MigrateAsync(database, MigrationScripts.Neotoma);

            var indexes = await QueryAsync(database, """
                SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                WHERE c.relname IN ('entities_recent_idx', 'entities_type_recent_idx', 'entities_merged_to_idx',
                                    'observations_entity_recent_idx', 'timeline_events_at_idx', 'timeline_events_type_at_idx')
                ORDER BY c.relname
                """);
            Assert.Equal(6, indexes.Count);
            Assert.All(indexes, index => Assert.True(index.Item2, $"{index.Item1} is not valid"));
            var unmarked = MigrationScripts.Neotoma.Assembly.GetManifestResourceNames()
                .Where(name => name.StartsWith(MigrationScripts.Neotoma.ResourcePrefix, StringComparison.Ordinal))
                .Select(name => new StreamReader(MigrationScripts.Neotoma.Assembly.GetManifestResourceStream(name)!).ReadToEnd())
                .Where(text => text.Contains("CONCURRENTLY", StringComparison.Ordinal) && !text.StartsWith("-- neotoma: no transaction", StringComparison.Ordinal));
            Assert.Empty(unmarked);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    /// <summary>
    /// Issue 26: 0017 builds the search table anew with each entity's place in the list and whether it is
    /// listed. Upgraded from 0016 with two people's entities present (one merged, one deleted, two
    /// types): every entity has its row and every row agrees with its entity, each person's search finds
    /// their own through the rebuilt index (and through 0015's reader, kept for the previous release's
    /// instances), the table keeps its two policies and its owner (also when a superuser runs the
    /// upgrade), and a later write keeps it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Migrate_FromADatabaseWithEntities_RebuildsTheSearchTableForEveryEntity(bool bySuperuser)
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        try
        {
            await MigrateAsync(database, MigrationScripts.Neotoma with { Through = "0016_entity_search_index" });
            await QueryAsync(database, """
                INSERT INTO entities (id, user_id, entity_type, canonical_name, normalized_name, aliases, normalized_aliases, updated_at)
                SELECT 'ent_' || p || '_' || g, p, (ARRAY['note', 'person'])[1 + g % 2], 'Name ' || g, 'name ' || g,
                       ARRAY['A' || g], ARRAY['a' || g], now() - g * interval '1 minute'
                FROM unnest(ARRAY['upgrade-ann', 'upgrade-bob']) p, generate_series(1, 300) g;
                UPDATE entities SET merged_to = 'ent_upgrade-ann_1' WHERE id = 'ent_upgrade-ann_2';
                UPDATE entities SET deleted_at = now() WHERE id = 'ent_upgrade-bob_3';
                """);

            var outcome = await MigrateAsync(database, MigrationScripts.Neotoma,
                bySuperuser ? PostgresServer.AdminConnectionStringFor(database) : null);

            Assert.Contains("0017_entity_search_order", outcome.Applied);
            Assert.Equal([("entity_search", true)], await QueryAsync(database,
                "SELECT s.tablename, s.tableowner = e.tableowner FROM pg_tables s, pg_tables e WHERE s.tablename = 'entity_search' AND e.tablename = 'entities'"));
            Assert.Equal([("rows 600, merged 1, deleted 1, disagreeing 0", true)], await QueryAsync(database, """
                SELECT format('rows %s, merged %s, deleted %s, disagreeing %s', count(s.entity_id), count(*) FILTER (WHERE s.merged),
                              count(*) FILTER (WHERE s.deleted),
                              count(*) FILTER (WHERE (s.haystack, s.entity_type, s.updated_at, s.merged, s.deleted) IS DISTINCT FROM
                                  (neotoma_search_text(e.normalized_name, e.normalized_aliases), e.entity_type, e.updated_at,
                                   e.merged_to IS NOT NULL, e.deleted_at IS NOT NULL))), true
                FROM entities e FULL JOIN entity_search s ON s.entity_id = e.id
                """));
            Assert.Equal([("entity_search_trgm_idx", true)], await QueryAsync(database,
                "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'entity_search_trgm_idx'"));
            Assert.Equal([("owner", true), ("search_reads", true)], await QueryAsync(database,
                "SELECT policyname, true FROM pg_policies WHERE tablename = 'entity_search' ORDER BY policyname"));

            // "name 1", "name 10" to "name 19" and "name 100" to "name 199": 111 of each person's.
            Assert.Equal(111L, await FoundAsync(database, "upgrade-ann", "%name 1%"));
            Assert.Equal(111L, await FoundAsync(database, "upgrade-bob", "%name 1%"));
            Assert.Equal(111L, await FoundAsync(database, "upgrade-bob", "%name 1%", "SELECT count(*) FROM neotoma_search_entities(@pattern)"));
            await QueryAsync(database, "UPDATE entities SET deleted_at = now() WHERE id = 'ent_upgrade-ann_10'");
            Assert.Equal(110L, await FoundAsync(database, "upgrade-ann", "%name 1%"));
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task Migrate_FailingScript_IsRolledBackAndNamed()
    {
        var database = await PostgresServer.CreateEmptyDatabaseAsync();
        var scripts = new MigrationScripts(typeof(MigrationTests).Assembly, "Neotoma.Tests.TestMigrations.");
        try
        {
            var failure = await Assert.ThrowsAsync<MigrationFailedException>(() => MigrateAsync(database, scripts));

            Assert.Equal("0002_broken.sql", failure.File);
            Assert.Contains("0002_broken.sql", failure.Message);
            var tables = await QueryAsync(database,
                "SELECT tablename, true FROM pg_tables WHERE tablename LIKE 'migration_probe%'");
            Assert.Equal([("migration_probe_ok", true)], tables);
        }
        finally
        {
            await PostgresServer.DropDatabaseAsync(database);
        }
    }

    [Fact]
    public async Task AppRole_IsNeitherSuperuserNorBypassesRowLevelSecurity()
    {
        await using var connection = new NpgsqlConnection(PostgresServer.AppConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.False(reader.GetBoolean(0));
        Assert.False(reader.GetBoolean(1));
    }

    private static async Task<MigrationOutcome> MigrateAsync(string database, MigrationScripts scripts, string? connectionString = null)
    {
        connectionString ??= PostgresServer.AppConnectionString(database);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var migrator = new DatabaseMigrator(dataSource,
            NullLogger<DatabaseMigrator>.Instance, scripts);
        return await migrator.MigrateAsync(CancellationToken.None);
    }

    /// <summary>How many of the person's entities the search table's reader finds for a pattern, read as the app reads it.</summary>
    private static async Task<long> FoundAsync(string database, string person, string pattern,
        string sql = "SELECT count(*) FROM neotoma_search_entities(@pattern, @pattern, false, NULL)")
    {
        await using var connection = new NpgsqlConnection(PostgresServer.AppConnectionString(database, pooling: false));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT set_config('neotoma.user_id', @person, false);
            """ + sql, connection);
        command.Parameters.AddWithValue("person", person);
        command.Parameters.AddWithValue("pattern", pattern);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.NextResultAsync();
        await reader.ReadAsync();
        return reader.GetInt64(0);
    }

    private static async Task<List<(string, bool)>> QueryAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(PostgresServer.AdminConnectionStringFor(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, bool)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetBoolean(1)));
        }

        return rows;
    }
}
