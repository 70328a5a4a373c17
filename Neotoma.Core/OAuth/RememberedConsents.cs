using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// A person's approvals of a client, redirect URI and scope. Consent stays mandatory per person:
/// an approval is remembered only once the browser that gave it finished signing in (so the
/// approver is the person), and it covers only the same client and redirect URI with no wider
/// scope. Approvals of one client and redirect URI accumulate: approving write later adds to read.
/// </summary>
public sealed class RememberedConsents(NeotomaDatabase database, TimeProvider timeProvider)
{
    public Task RememberAsync(string userId, string clientId, string redirectUri, string scope, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            string? earlier;
            await using (var read = new NpgsqlCommand(
                "SELECT scope FROM mcp_oauth_consents WHERE user_id = @user AND client_id = @client AND redirect_uri = @redirect FOR UPDATE",
                connection, transaction))
            {
                Bind(read.Parameters, userId, clientId, redirectUri);
                earlier = await read.ExecuteScalarAsync(cancellationToken) as string;
            }

            await using var upsert = new NpgsqlCommand("""
                INSERT INTO mcp_oauth_consents (user_id, client_id, redirect_uri, scope, approved_at) VALUES (@user, @client, @redirect, @scope, @now)
                ON CONFLICT (user_id, client_id, redirect_uri) DO UPDATE SET scope = excluded.scope, approved_at = excluded.approved_at
                """, connection, transaction);
            Bind(upsert.Parameters, userId, clientId, redirectUri);
            upsert.Parameters.AddWithValue("scope", earlier is null ? NeotomaScopes.Normalize(scope) : NeotomaScopes.Union(earlier, scope));
            upsert.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            await upsert.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Whether this person already approved this client, redirect URI and at least this scope.</summary>
    public async Task<bool> CoversAsync(string userId, AuthorizationRequest request, CancellationToken cancellationToken)
    {
        var approved = await database.QueryListAsync(DbScope.OAuth,
            "SELECT scope FROM mcp_oauth_consents WHERE user_id = @user AND client_id = @client AND redirect_uri = @redirect",
            parameters => Bind(parameters, userId, request.Client.ClientId, request.RedirectUri),
            reader => reader.GetString(0),
            cancellationToken);
        return approved is [var scope] && NeotomaScopes.IsWithin(request.Scope, scope);
    }

    /// <summary>
    /// Forgets, in the caller's transaction, the person's approvals: of one client and redirect URI,
    /// of every redirect URI of one client (<paramref name="redirectUri"/> null), or of every client
    /// (<paramref name="clientId"/> null too). How many were forgotten.
    /// </summary>
    public static async Task<int> ForgetAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string userId, string? clientId, string? redirectUri, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("""
            DELETE FROM mcp_oauth_consents
            WHERE user_id = @user AND (@client::text IS NULL OR client_id = @client) AND (@redirect::text IS NULL OR redirect_uri = @redirect)
            """, connection, transaction);
        command.Parameters.AddWithValue("user", userId);
        command.Parameters.Add(new NpgsqlParameter("client", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)clientId ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("redirect", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)redirectUri ?? DBNull.Value });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void Bind(NpgsqlParameterCollection parameters, string userId, string clientId, string redirectUri)
    {
        parameters.AddWithValue("user", userId);
        parameters.AddWithValue("client", clientId);
        parameters.AddWithValue("redirect", redirectUri);
    }
}
