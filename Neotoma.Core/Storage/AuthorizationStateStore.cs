using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// A sign-in in progress at the provider, kept under its <c>state</c> until the callback: the PKCE
/// verifier and nonce Neotoma sent upstream, and what the MCP client asked for (no client for the
/// connections page's own sign-in).
/// </summary>
public sealed record AuthorizationState(
    string ConnectionId, string Verifier, string Nonce, string? ClientId, string? ClientName, string? RedirectUri,
    string? CodeChallenge, string? ClientState, string? Scope, string? Resource, DateTimeOffset ExpiresAt,
    string Flow, string? BrowserBinding = null);

/// <summary><c>mcp_oauth_state</c>: the only code with SQL for it.</summary>
public static class AuthorizationStateStore
{
    public static Task SaveAsync(NeotomaDatabase database, string state, AuthorizationState row, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, client_id, client_name,
                    redirect_uri, code_challenge, client_state, scope, resource, created_at, expires_at, flow, browser_binding)
                VALUES (@state, @connection, @verifier, @nonce, @client, @name, @redirect, @challenge, @clientState, @scope, @resource, @now, @expires,
                    @flow, @binding)
                """);
            command.Parameters.With("state", state).With("connection", row.ConnectionId).With("verifier", row.Verifier).With("nonce", row.Nonce)
                .With("client", row.ClientId).With("name", row.ClientName).With("redirect", row.RedirectUri).With("challenge", row.CodeChallenge)
                .With("clientState", row.ClientState).With("scope", row.Scope).With("resource", row.Resource).With("now", now)
                .With("expires", row.ExpiresAt).With("flow", row.Flow).With("binding", row.BrowserBinding);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// Takes the state row (DELETE ... RETURNING: of many concurrent callbacks with one state exactly
    /// one gets it), expired or not; null when there is none.
    /// </summary>
    public static Task<AuthorizationState?> TakeAsync(NeotomaDatabase database, string state, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                DELETE FROM mcp_oauth_state WHERE state = @state
                RETURNING connection_id, upstream_code_verifier, upstream_nonce, client_id, client_name, redirect_uri,
                          code_challenge, client_state, scope, resource, expires_at, flow, browser_binding
                """);
            command.Parameters.AddWithValue("state", state);
            return await command.FirstAsync(reader => new AuthorizationState(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                reader.Text(3), reader.Text(4), reader.Text(5), reader.Text(6), reader.Text(7), reader.Text(8), reader.Text(9), reader.At(10),
                reader.GetString(11), reader.Text(12)), cancellationToken);
        }, cancellationToken);

    /// <summary>How many sign-ins began more than <paramref name="age"/> ago and are still stored (the cleanup job should have deleted them).</summary>
    public static async Task<long> OlderThanAsync(NpgsqlTransaction transaction, TimeSpan age, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("SELECT count(*) FROM mcp_oauth_state WHERE created_at < now() - @age");
        command.Parameters.AddWithValue("age", age);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Deletes up to <paramref name="limit"/> expired states (rows locked elsewhere are left for the next batch); how many.</summary>
    public static async Task<int> DeleteExpiredAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_state WHERE state IN (
                SELECT state FROM mcp_oauth_state WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
