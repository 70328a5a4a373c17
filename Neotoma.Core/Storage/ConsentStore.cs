using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>A remembered approval, with the name of the client it approved (the latest the person's connections gave it).</summary>
public sealed record ConsentRow(string ClientId, string? ClientName, string RedirectUri, string Scope, DateTimeOffset ApprovedAt);

/// <summary><c>mcp_oauth_consents</c>: the only code with SQL for it.</summary>
public static class ConsentStore
{
    /// <summary>The scope the person approved for a client and redirect URI, the row locked for the rest of the transaction; null if none.</summary>
    public static async Task<string?> LockScopeAsync(NpgsqlTransaction transaction, string userId, string clientId, string redirectUri, CancellationToken cancellationToken)
    {
        await using var read = transaction.Command(
            "SELECT scope FROM mcp_oauth_consents WHERE user_id = @user AND client_id = @client AND redirect_uri = @redirect FOR UPDATE");
        read.Parameters.With("user", userId).With("client", clientId).With("redirect", redirectUri);
        return await read.ExecuteScalarAsync(cancellationToken) as string;
    }

    public static async Task SaveAsync(
        NpgsqlTransaction transaction, string userId, string clientId, string redirectUri, string scope, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var upsert = transaction.Command("""
            INSERT INTO mcp_oauth_consents (user_id, client_id, redirect_uri, scope, approved_at) VALUES (@user, @client, @redirect, @scope, @now)
            ON CONFLICT (user_id, client_id, redirect_uri) DO UPDATE SET scope = excluded.scope, approved_at = excluded.approved_at
            """);
        upsert.Parameters.With("user", userId).With("client", clientId).With("redirect", redirectUri).With("scope", scope).With("now", now);
        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The scope the person approved for a client and redirect URI, in one read; null if none.</summary>
    public static async Task<string?> ScopeAsync(NeotomaDatabase database, string userId, string clientId, string redirectUri, CancellationToken cancellationToken) =>
        (await database.QueryListAsync(DbScope.OAuth,
            "SELECT scope FROM mcp_oauth_consents WHERE user_id = @user AND client_id = @client AND redirect_uri = @redirect",
            parameters => parameters.With("user", userId).With("client", clientId).With("redirect", redirectUri),
            reader => reader.GetString(0), cancellationToken)).FirstOrDefault();

    /// <summary>
    /// Forgets the person's approvals: of one client and redirect URI, of every redirect URI of one client
    /// (<paramref name="redirectUri"/> null), or of every client (<paramref name="clientId"/> null too); how many.
    /// </summary>
    public static async Task<int> ForgetAsync(
        NpgsqlTransaction transaction, string userId, string? clientId, string? redirectUri, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("""
            DELETE FROM mcp_oauth_consents
            WHERE user_id = @user AND (@client::text IS NULL OR client_id = @client) AND (@redirect::text IS NULL OR redirect_uri = @redirect)
            """);
        command.Parameters.With("user", userId).WithText("client", clientId).WithText("redirect", redirectUri);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The person's approvals, newest first, read as that person.</summary>
    public static Task<List<ConsentRow>> ListAsync(NeotomaDatabase database, string userId, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), """
            SELECT client_id, (SELECT client_name FROM mcp_oauth_connections c WHERE c.client_id = k.client_id ORDER BY created_at DESC LIMIT 1),
                   redirect_uri, scope, approved_at
            FROM mcp_oauth_consents k ORDER BY approved_at DESC
            """,
            _ => { },
            reader => new ConsentRow(reader.GetString(0), reader.Text(1), reader.GetString(2), reader.GetString(3), reader.At(4)),
            cancellationToken);
}
