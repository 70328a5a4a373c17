using Neotoma.Core.Storage;
using Neotoma.Tests.Infrastructure;
using Npgsql;

namespace Neotoma.Tests.Foundation;

/// <summary>Row-level security binds the app's own role, which owns the tables.</summary>
public sealed class RowLevelSecurityTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task AppRole_WithoutScope_SeesNoOAuthRowsAndCannotWriteThem()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES ('rls-state', 'rls-connection', 'v', 'n', now() + interval '10 minutes')
            """);

        await using var count = database.AppDataSource.CreateCommand("SELECT count(*) FROM mcp_oauth_state");
        Assert.Equal(0L, await count.ExecuteScalarAsync());

        await using var insert = database.AppDataSource.CreateCommand("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES ('sneaky', 'c', 'v', 'n', now())
            """);
        var denied = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
    }

    [Fact]
    public async Task OAuthScope_SeesOAuthRows()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES ('scoped-state', 'scoped-connection', 'v', 'n', now() + interval '10 minutes')
            """);
        var db = new NeotomaDatabase(database.AppDataSource);

        var found = await db.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("SELECT connection_id FROM mcp_oauth_state WHERE state = 'scoped-state'", connection, transaction);
            return (string?)await command.ExecuteScalarAsync();
        }, CancellationToken.None);

        Assert.Equal("scoped-connection", found);
    }

    [Fact]
    public async Task UserScope_SeesOnlyThatUsersConnections_EvenWithoutAWhereClause()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_connections (connection_id, user_id, client_name) VALUES
              ('alice-cursor', 'alice', 'Cursor'), ('bob-cursor', 'bob', 'Cursor')
            """);
        var db = new NeotomaDatabase(database.AppDataSource);

        var visible = await db.InTransactionAsync(DbScope.ForUser("alice"), async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("SELECT connection_id FROM mcp_oauth_connections", connection, transaction);
            await using var reader = await command.ExecuteReaderAsync();
            var ids = new List<string>();
            while (await reader.ReadAsync())
            {
                ids.Add(reader.GetString(0));
            }

            return ids;
        }, CancellationToken.None);

        Assert.Equal(["alice-cursor"], visible);
    }

    [Fact]
    public async Task Scope_EndsWithTheTransaction_SoPooledConnectionsCarryNoIdentity()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_connections (connection_id, user_id) VALUES ('carol-1', 'carol')
            """);
        var db = new NeotomaDatabase(database.AppDataSource);
        await db.InTransactionAsync(DbScope.ForUser("carol"), (_, _) => Task.CompletedTask, CancellationToken.None);

        await using var command = database.AppDataSource.CreateCommand("SELECT count(*) FROM mcp_oauth_connections");
        Assert.Equal(0L, await command.ExecuteScalarAsync());
    }

    /// <summary>What the connections page reads as a person: their approvals and activity, never another's; sessions, sign-ins and queued provider tokens not at all.</summary>
    [Fact]
    public async Task UserScope_SeesOnlyThatUsersConsentsAndActivity_AndNoSessions()
    {
        await database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_consents (user_id, client_id, redirect_uri, scope) VALUES
              ('carol', 'c1', 'http://127.0.0.1/cb', 'neotoma:read'), ('dan', 'c1', 'http://127.0.0.1/cb', 'neotoma:read');
            INSERT INTO mcp_oauth_audit (event, user_id, success) VALUES ('web_sign_in', 'carol', true), ('web_sign_in', 'dan', true);
            INSERT INTO mcp_oauth_browser_sign_ins (sign_in_id, user_id) VALUES ('signin-carol', 'carol');
            INSERT INTO mcp_oauth_web_sessions (session_hash, user_id, sign_in_id, last_seen_at, expires_at) VALUES ('h-carol', 'carol', 'signin-carol', now(), now() + interval '1 hour');
            INSERT INTO mcp_oauth_upstream_revocations (token, token_type_hint, held_by) VALUES ('x', 'refresh_token', 'browser sign-in: signin-carol');
            """);
        var db = new NeotomaDatabase(database.AppDataSource);

        var seen = await db.InTransactionAsync(DbScope.ForUser("carol"), async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                SELECT (SELECT string_agg(DISTINCT user_id, ',') FROM mcp_oauth_consents),
                       (SELECT string_agg(DISTINCT user_id, ',') FROM mcp_oauth_audit),
                       (SELECT count(*) FROM mcp_oauth_web_sessions) + (SELECT count(*) FROM mcp_oauth_browser_sign_ins)
                         + (SELECT count(*) FROM mcp_oauth_upstream_revocations)
                """, connection, transaction);
            await using var reader = await command.ExecuteReaderAsync();
            await reader.ReadAsync();
            return (Consents: reader.GetString(0), Audit: reader.GetString(1), Hidden: reader.GetInt64(2));
        }, CancellationToken.None);

        Assert.Equal(("carol", "carol", 0L), seen);
    }
}
