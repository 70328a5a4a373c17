using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// A client as stored: registered dynamically (<see cref="DocumentExpiresAt"/> null), or known by its
/// metadata document, cached until <see cref="DocumentExpiresAt"/>. How it authenticates at the token
/// endpoint: <c>none</c> (PKCE alone), or <c>private_key_jwt</c> with the keys at <see cref="JwksUri"/>.
/// </summary>
public sealed record StoredClient(
    string ClientId, string? ClientName, IReadOnlyList<string> RedirectUris, IReadOnlyList<string> GrantTypes, string? ApplicationType,
    DateTimeOffset? DocumentExpiresAt = null, string? DocumentETag = null, string TokenEndpointAuthMethod = "none", string? JwksUri = null);

/// <summary>
/// How a client authenticates at the token endpoint: <c>none</c>, <c>private_key_jwt</c> with its keys at
/// <see cref="JwksUri"/>, or (an enterprise client) a secret whose SHA-256 is <see cref="SecretHash"/>.
/// </summary>
public readonly record struct StoredAuthentication(string Method, string? JwksUri, string? SecretHash = null, bool Enterprise = false);

/// <summary>A client the operator registers for enterprise-managed authorization.</summary>
public sealed record NewEnterpriseClient(string ClientId, string ClientName, string Method, string? JwksUri, string? SecretHash);

/// <summary><c>mcp_oauth_clients</c>: the only code with SQL for it.</summary>
public static class ClientStore
{
    /// <summary>A dynamic registration (RFC 7591): a public client, authenticated by PKCE alone.</summary>
    public static Task RegisterAsync(
        NeotomaDatabase database, StoredClient client, string? clientUri, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_clients
                    (client_id, client_name, redirect_uris, grant_types, response_types, token_endpoint_auth_method, client_uri, created_at, application_type)
                VALUES (@id, @name, @redirects, @grants, '{code}', 'none', @uri, @now, @applicationType)
                """);
            command.Parameters.With("id", client.ClientId).With("name", client.ClientName).With("redirects", client.RedirectUris.ToArray())
                .With("grants", client.GrantTypes.ToArray()).With("uri", clientUri).With("now", now).With("applicationType", client.ApplicationType);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>A dynamically registered client (never a cached document: a document's URL is not a registration).</summary>
    public static async Task<StoredClient?> FindRegisteredAsync(NeotomaDatabase database, string clientId, CancellationToken cancellationToken) =>
        (await database.QueryListAsync(DbScope.OAuth, """
            SELECT client_id, client_name, redirect_uris, grant_types, application_type
            FROM mcp_oauth_clients WHERE client_id = @id AND document_expires_at IS NULL AND NOT enterprise
            """,
            parameters => parameters.AddWithValue("id", clientId),
            reader => new StoredClient(reader.GetString(0), reader.Text(1), reader.GetFieldValue<string[]>(2), reader.GetFieldValue<string[]>(3), reader.Text(4)),
            cancellationToken)).FirstOrDefault();

    /// <summary>A client's metadata document as last fetched, with how long it may be used and its ETag.</summary>
    public static async Task<StoredClient?> FindDocumentAsync(NeotomaDatabase database, string clientId, CancellationToken cancellationToken) =>
        (await database.QueryListAsync(DbScope.OAuth, """
            SELECT client_id, client_name, redirect_uris, grant_types, application_type, document_expires_at, document_etag,
                   token_endpoint_auth_method, jwks_uri
            FROM mcp_oauth_clients WHERE client_id = @id AND document_expires_at IS NOT NULL
            """,
            parameters => parameters.AddWithValue("id", clientId),
            reader => new StoredClient(reader.GetString(0), reader.Text(1), reader.GetFieldValue<string[]>(2), reader.GetFieldValue<string[]>(3), reader.Text(4),
                reader.At(5), reader.Text(6), reader.GetString(7), reader.Text(8)),
            cancellationToken)).FirstOrDefault();

    /// <summary>How a client authenticates, as last stored (its registration, or the last fetch of its document); null for an unknown client.</summary>
    public static Task<StoredAuthentication?> AuthenticationOfAsync(NeotomaDatabase database, string clientId, CancellationToken cancellationToken) =>
        database.QuerySingleAsync(DbScope.OAuth,
            "SELECT token_endpoint_auth_method, jwks_uri, client_secret_hash, enterprise FROM mcp_oauth_clients WHERE client_id = @id",
            parameters => parameters.AddWithValue("id", clientId),
            reader => new StoredAuthentication(reader.GetString(0), reader.Text(1), reader.Text(2), reader.GetBoolean(3)),
            cancellationToken);

    /// <summary>
    /// What the connections page says of each client: its <c>application_type</c> (native, web or not said)
    /// and how it authenticates. Clients no longer stored are left out.
    /// </summary>
    public static async Task<Dictionary<string, (string? ApplicationType, string AuthMethod)>> DescribeAsync(
        NeotomaDatabase database, IReadOnlyCollection<string> clientIds, CancellationToken cancellationToken) =>
        clientIds.Count == 0
            ? []
            : (await database.QueryListAsync(DbScope.OAuth,
                "SELECT client_id, application_type, token_endpoint_auth_method FROM mcp_oauth_clients WHERE client_id = ANY(@ids)",
                parameters => parameters.AddWithValue("ids", clientIds.ToArray()),
                reader => (Id: reader.GetString(0), ApplicationType: reader.Text(1), AuthMethod: reader.GetString(2)), cancellationToken))
            .ToDictionary(row => row.Id, row => (row.ApplicationType, row.AuthMethod));
    /// <summary>The name a client gave (its registration, document or operator's), null for an unknown client or one without.</summary>
    public static async Task<string?> NameOfAsync(NeotomaDatabase database, string clientId, CancellationToken cancellationToken) =>
        (await database.QueryListAsync(DbScope.OAuth, "SELECT client_name FROM mcp_oauth_clients WHERE client_id = @id",
            parameters => parameters.AddWithValue("id", clientId), reader => reader.Text(0), cancellationToken)).FirstOrDefault();

    /// <summary>An enterprise client, registered by the operator (never through an endpoint); false when the client_id is taken.</summary>
    public static Task<bool> RegisterEnterpriseAsync(NeotomaDatabase database, NewEnterpriseClient client, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_clients (client_id, client_name, redirect_uris, grant_types, response_types, token_endpoint_auth_method,
                                               created_at, jwks_uri, client_secret_hash, enterprise)
                VALUES (@id, @name, '{}', '{urn:ietf:params:oauth:grant-type:jwt-bearer}', '{}', @method, @now, @jwksUri, @secret, true)
                ON CONFLICT (client_id) DO NOTHING
                """);
            command.Parameters.With("id", client.ClientId).With("name", client.ClientName).With("method", client.Method).With("now", now)
                .With("jwksUri", client.JwksUri).With("secret", client.SecretHash);
            return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
        }, cancellationToken);

    /// <summary>Caches a fetched document (never over a dynamic registration of the same id).</summary>
    public static Task SaveDocumentAsync(NeotomaDatabase database, StoredClient client, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_oauth_clients (client_id, client_name, redirect_uris, grant_types, response_types, token_endpoint_auth_method,
                                               created_at, document_expires_at, document_etag, application_type, jwks_uri)
                VALUES (@id, @name, @redirects, @grants, '{code}', @method, @now, @expires, @etag, @applicationType, @jwksUri)
                ON CONFLICT (client_id) DO UPDATE SET client_name = excluded.client_name, redirect_uris = excluded.redirect_uris,
                    grant_types = excluded.grant_types, document_expires_at = excluded.document_expires_at, document_etag = excluded.document_etag,
                    application_type = excluded.application_type, token_endpoint_auth_method = excluded.token_endpoint_auth_method,
                    jwks_uri = excluded.jwks_uri
                WHERE mcp_oauth_clients.document_expires_at IS NOT NULL
                """);
            command.Parameters.With("id", client.ClientId).With("name", client.ClientName).With("redirects", client.RedirectUris.ToArray())
                .With("grants", client.GrantTypes.ToArray()).With("applicationType", client.ApplicationType).With("now", now)
                .With("expires", client.DocumentExpiresAt).With("etag", client.DocumentETag).With("method", client.TokenEndpointAuthMethod)
                .With("jwksUri", client.JwksUri);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>Marks a client used: a registration unused for the retention period is forgotten.</summary>
    public static async Task TouchAsync(NpgsqlTransaction transaction, string clientId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var touch = transaction.Command("UPDATE mcp_oauth_clients SET last_used_at = @now WHERE client_id = @client");
        touch.Parameters.With("client", clientId).With("now", now);
        await touch.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Deletes up to <paramref name="limit"/> clients unused for <paramref name="retention"/> that no live connection uses; how many.</summary>
    public static async Task<int> DeleteUnusedAsync(NpgsqlTransaction transaction, DateTimeOffset now, TimeSpan retention, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_clients WHERE client_id IN (
                SELECT client_id FROM mcp_oauth_clients cl
                WHERE coalesce(cl.last_used_at, cl.created_at) < @now - @retention AND NOT cl.enterprise
                  AND NOT EXISTS (SELECT 1 FROM mcp_oauth_connections c WHERE c.client_id = cl.client_id AND c.revoked_at IS NULL)
                LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("retention", retention).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
