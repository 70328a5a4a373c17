using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>The row lock on a connection, held until its transaction ends (<see cref="Origin"/>: client, personal or enterprise).</summary>
public sealed record ConnectionLock(string ConnectionId, string UserId, string? ClientId, bool Revoked, string Origin = "client");

/// <summary>A connection as it is made: by a sign-in (a client's, or a Continue in a signed-in browser) or as a personal token.</summary>
public sealed record NewConnection(
    string ConnectionId, string UserId, DateTimeOffset CreatedAt,
    string? ClientId = null, string? ClientName = null, string? RedirectUri = null, string? Scope = null,
    StoredUpstreamTokens? Upstream = null, bool Pending = false, string? SignInId = null,
    bool Personal = false, DateTimeOffset? ExpiresAt = null, string? IdpIssuer = null);

/// <summary>What revoking a connection took from it: the upstream tokens it held (the access token only while live) and its live access tokens' hashes.</summary>
public sealed record RevokedConnection(string UserId, string? UpstreamRefresh, string? UpstreamAccess, IReadOnlyList<string> LiveAccessTokenHashes);

/// <summary>One token as it is issued; stored only as the hash of the token.</summary>
public sealed record NewToken(
    string TokenHash, string Kind, string FamilyId, string ConnectionId, string ClientId, string UserId, string Scope, string Resource,
    DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public const string Access = "access";
    public const string Refresh = "refresh";
}

/// <summary>A refresh token as it was spent.</summary>
public sealed record SpentRefreshToken(string FamilyId, string ClientId, string UserId, string Scope, string Resource);

/// <summary>A live access token with the end that binds it (a personal token's maximum lifetime included).</summary>
public readonly record struct LiveAccessToken(string UserId, string ClientId, string ConnectionId, string Scope, string Resource, DateTimeOffset ExpiresAt);

/// <summary>A connection as its person sees it on the connections page (<see cref="IdpIssuer"/>: the enterprise IdP that granted it).</summary>
public sealed record ConnectionRow(
    string ConnectionId, string? ClientId, string? ClientName, string? RedirectUri, string? Scope, string Origin,
    DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt, DateTimeOffset? ExpiresAt, string? IdpIssuer = null);

/// <summary>
/// The grant aggregate: <c>mcp_oauth_connections</c> (a person's sign-in for one client, with the
/// upstream tokens it holds) and <c>mcp_oauth_tokens</c> (the access and refresh tokens issued for
/// it, as hashes). The only code with SQL for either table. Methods that take a transaction run in
/// the caller's unit of work (which holds the locks they assume); the others are one read each.
/// </summary>
public static class GrantStore
{
    /// <summary>The upstream tokens connections hold.</summary>
    public static UpstreamTokenHolder Upstream { get; } = new("mcp_oauth_connections", "connection_id");

    public static async Task<bool> ExistsAsync(NeotomaDatabase database, string connectionId, CancellationToken cancellationToken) =>
        await database.QuerySingleAsync(DbScope.OAuth, "SELECT true FROM mcp_oauth_connections WHERE connection_id = @id",
            parameters => parameters.AddWithValue("id", connectionId), reader => reader.GetBoolean(0), cancellationToken) is true;

    /// <summary>Makes a connection; false when its id was ever used before (ids are never reused, not even after revocation).</summary>
    public static async Task<bool> CreateAsync(NpgsqlTransaction transaction, NewConnection connection, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Command("""
            INSERT INTO mcp_oauth_connections (connection_id, user_id, client_id, client_name, origin, refresh_token,
                upstream_access_token, upstream_access_token_expires_at, created_at, last_used_at, expires_at, redirect_uri, scope, pending, sign_in_id,
                idp_issuer)
            VALUES (@id, @user, @client, @name, @origin, @refresh, @access, @accessExpires, @now, @lastUsed, @expires, @redirect, @scope, @pending, @signIn,
                @idp)
            ON CONFLICT (connection_id) DO NOTHING
            """);
        insert.Parameters.With("id", connection.ConnectionId).With("user", connection.UserId).With("client", connection.ClientId)
            .With("name", connection.ClientName).With("origin", connection.Personal ? "personal" : connection.IdpIssuer is null ? "client" : "enterprise")
            .With("refresh", connection.Upstream?.Refresh).With("access", connection.Upstream?.Access).With("accessExpires", connection.Upstream?.AccessExpiresAt)
            .With("now", connection.CreatedAt).With("lastUsed", connection.Personal ? null : connection.CreatedAt).With("expires", connection.ExpiresAt)
            .With("redirect", connection.RedirectUri).With("scope", connection.Scope).With("pending", connection.Pending).With("signIn", connection.SignInId)
            .With("idp", connection.IdpIssuer);
        return await insert.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    /// <summary>Locks a connection's row for the rest of the transaction; null when there is no such connection.</summary>
    public static async Task<ConnectionLock?> LockAsync(NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command(
            "SELECT user_id, client_id, revoked_at IS NOT NULL, origin FROM mcp_oauth_connections WHERE connection_id = @id FOR UPDATE");
        command.Parameters.AddWithValue("id", connectionId);
        return await command.FirstAsync(reader => new ConnectionLock(connectionId, reader.GetString(0), reader.Text(1), reader.GetBoolean(2), reader.GetString(3)), cancellationToken);
    }

    /// <summary>
    /// Revokes a locked connection and every live token issued for it, and takes its upstream tokens
    /// off the row. Null when there is no such connection (its tokens, if any, are revoked all the same).
    /// </summary>
    public static async Task<RevokedConnection?> RevokeAsync(NpgsqlTransaction transaction, string connectionId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        (string UserId, string? Refresh, string? Access)? taken;
        await using (var revokeConnection = transaction.Command("""
            UPDATE mcp_oauth_connections c
            SET revoked_at = coalesce(c.revoked_at, @now), refresh_token = NULL, upstream_access_token = NULL
            FROM (SELECT connection_id, refresh_token, upstream_access_token, upstream_access_token_expires_at > @now AS live
                  FROM mcp_oauth_connections WHERE connection_id = @id) old
            WHERE c.connection_id = old.connection_id
            RETURNING c.user_id, old.refresh_token, CASE WHEN old.live THEN old.upstream_access_token END
            """))
        {
            revokeConnection.Parameters.With("id", connectionId).With("now", now);
            var rows = await revokeConnection.ListAsync(reader => (reader.GetString(0), reader.Text(1), reader.Text(2)), cancellationToken);
            taken = rows.Count == 1 ? rows[0] : null;
        }

        await using var revokeTokens = transaction.Command("""
            UPDATE mcp_oauth_tokens SET revoked_at = @now
            WHERE connection_id = @id AND revoked_at IS NULL
            RETURNING token_hash, kind = 'access' AND expires_at > @now
            """);
        revokeTokens.Parameters.With("id", connectionId).With("now", now);
        var liveAccess = (await revokeTokens.ListAsync(reader => (Hash: reader.GetString(0), LiveAccess: reader.GetBoolean(1)), cancellationToken))
            .Where(token => token.LiveAccess).Select(token => token.Hash).ToList();
        return taken is var (userId, refresh, access) ? new RevokedConnection(userId, refresh, access, liveAccess) : null;
    }

    /// <summary>
    /// Locks, in id order, the person's other live connections of a client, which a redeemed code of
    /// <paramref name="keptId"/> replaces; their ids.
    /// </summary>
    public static Task<List<string>> LockReplacedAsync(
        NpgsqlTransaction transaction, string userId, string clientId, string keptId, CancellationToken cancellationToken) =>
        LockLiveAsync(transaction, "user_id = @user AND client_id = @client AND NOT pending AND connection_id <> @kept",
            parameters => parameters.With("user", userId).With("client", clientId).With("kept", keptId), cancellationToken);

    /// <summary>Locks, in id order, the live connections a browser sign-in made; their ids.</summary>
    public static Task<List<string>> LockMadeByAsync(NpgsqlTransaction transaction, string signInId, CancellationToken cancellationToken) =>
        LockLiveAsync(transaction, "sign_in_id = @signIn", parameters => parameters.With("signIn", signInId), cancellationToken);

    private static async Task<List<string>> LockLiveAsync(
        NpgsqlTransaction transaction, string condition, Action<NpgsqlParameterCollection> parameters, CancellationToken cancellationToken)
    {
        await using var find = transaction.Command(
            $"SELECT connection_id FROM mcp_oauth_connections WHERE revoked_at IS NULL AND {condition} ORDER BY connection_id FOR UPDATE");
        parameters(find.Parameters);
        return await find.ListAsync(reader => reader.GetString(0), cancellationToken);
    }

    /// <summary>Connections still pending (their code never redeemed) that were made before <paramref name="before"/>.</summary>
    public static Task<List<string>> AbandonedAsync(NeotomaDatabase database, DateTimeOffset before, int limit, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.OAuth,
            "SELECT connection_id FROM mcp_oauth_connections WHERE pending AND revoked_at IS NULL AND created_at < @before LIMIT @batch",
            parameters => parameters.With("before", before).With("batch", limit),
            reader => reader.GetString(0), cancellationToken);

    /// <summary>Every live connection of the person, pending ones included, read as that person.</summary>
    public static Task<List<string>> LiveOfAsync(NeotomaDatabase database, string userId, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), "SELECT connection_id FROM mcp_oauth_connections WHERE revoked_at IS NULL",
            _ => { }, reader => reader.GetString(0), cancellationToken);

    /// <summary>The person's live connections as the connections page lists them, newest first, read as that person.</summary>
    public static Task<List<ConnectionRow>> ListAsync(NeotomaDatabase database, string userId, TimeSpan personalTokenMaxLifetime, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), """
            SELECT c.connection_id, c.client_id, c.client_name, c.redirect_uri, c.scope, c.origin, c.created_at, c.last_used_at,
                   LEAST(c.expires_at, CASE WHEN c.origin = 'personal' THEN c.created_at + @personalMax END), c.idp_issuer
            FROM mcp_oauth_connections c
            WHERE c.revoked_at IS NULL AND NOT c.pending
            ORDER BY c.created_at DESC
            """,
            parameters => parameters.AddWithValue("personalMax", personalTokenMaxLifetime),
            reader => new ConnectionRow(reader.GetString(0), reader.Text(1), reader.Text(2), reader.Text(3), reader.Text(4), reader.GetString(5),
                reader.At(6), reader.Time(7), reader.Time(8), reader.Text(9)),
            cancellationToken);

    /// <summary>
    /// Queues the caller's transaction behind every other redemption of a code of this person and client
    /// (a transaction-scoped advisory lock), so of two redemptions at once only one keeps its connection.
    /// </summary>
    public static async Task QueueRedemptionAsync(NpgsqlTransaction transaction, string userId, string clientId, CancellationToken cancellationToken)
    {
        await using var queue = transaction.Command("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))");
        queue.Parameters.AddWithValue("key", $"neotoma-grant\n{userId}\n{clientId}");
        await queue.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A connection made by Continue holds no provider tokens. When it replaces one that does, it takes
    /// them over (and is bounded by the provider from then on, not by the browser sign-in that made it),
    /// so a Continue never trades a provider-backed connection for a shorter-lived one.
    /// </summary>
    public static async Task InheritUpstreamAsync(NpgsqlTransaction transaction, string userId, string clientId, string connectionId, CancellationToken cancellationToken)
    {
        await using var inherit = transaction.Command("""
            WITH earlier AS (
                SELECT connection_id, refresh_token, upstream_access_token, upstream_access_token_expires_at FROM mcp_oauth_connections
                WHERE user_id = @user AND client_id = @client AND revoked_at IS NULL AND NOT pending AND connection_id <> @id
                  AND refresh_token IS NOT NULL
                ORDER BY created_at DESC LIMIT 1 FOR UPDATE),
            taken AS (
                UPDATE mcp_oauth_connections n
                SET refresh_token = earlier.refresh_token, upstream_access_token = earlier.upstream_access_token,
                    upstream_access_token_expires_at = earlier.upstream_access_token_expires_at, sign_in_id = NULL
                FROM earlier
                WHERE n.connection_id = @id AND n.refresh_token IS NULL AND n.upstream_access_token IS NULL
                RETURNING earlier.connection_id)
            UPDATE mcp_oauth_connections e SET refresh_token = NULL, upstream_access_token = NULL, upstream_access_token_expires_at = NULL
            FROM taken WHERE e.connection_id = taken.connection_id
            """);
        inherit.Parameters.With("user", userId).With("client", clientId).With("id", connectionId);
        await inherit.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// The person's live enterprise connection of a client, locked; null when there is none. Enterprise only:
    /// a connection the person approved in the browser carries what they approved, not what their IdP grants,
    /// and revoking it must not leave an enterprise grant standing. The caller holds
    /// <see cref="QueueRedemptionAsync"/>'s lock, so no other grant makes one meanwhile.
    /// </summary>
    public static async Task<string?> LockLiveOfClientAsync(NpgsqlTransaction transaction, string userId, string clientId, CancellationToken cancellationToken) =>
        (await LockLiveAsync(transaction, "user_id = @user AND client_id = @client AND NOT pending AND origin = 'enterprise'",
            parameters => parameters.With("user", userId).With("client", clientId), cancellationToken)).FirstOrDefault();

    /// <summary>An enterprise IdP granted this (enterprise) connection again: what it granted now, by whom, and when.</summary>
    public static async Task RegrantAsync(
        NpgsqlTransaction transaction, string connectionId, string scope, string idpIssuer, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var update = transaction.Command("""
            UPDATE mcp_oauth_connections SET last_used_at = @now,
                scope = @scope, idp_issuer = @idp
            WHERE connection_id = @id AND origin = 'enterprise'
            """);
        update.Parameters.With("id", connectionId).With("scope", scope).With("idp", idpIssuer).With("now", now);
        await update.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A pending connection becomes live: its code was redeemed.</summary>
    public static async Task ActivateAsync(NpgsqlTransaction transaction, string connectionId, CancellationToken cancellationToken)
    {
        await using var activate = transaction.Command("UPDATE mcp_oauth_connections SET pending = false WHERE connection_id = @id");
        activate.Parameters.AddWithValue("id", connectionId);
        await activate.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Marks a connection used now, unless it was marked after <paramref name="since"/> (by any instance).</summary>
    public static Task TouchAsync(NeotomaDatabase database, string connectionId, DateTimeOffset now, DateTimeOffset since, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var touch = transaction.Command(
                "UPDATE mcp_oauth_connections SET last_used_at = @now WHERE connection_id = @id AND (last_used_at IS NULL OR last_used_at < @since)");
            touch.Parameters.With("id", connectionId).With("now", now).With("since", since);
            await touch.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    /// <summary>
    /// An access and a refresh token of one connection, issued together; the connection is marked used.
    /// One round trip.
    /// </summary>
    public static async Task InsertPairAsync(NpgsqlTransaction transaction, NewToken access, NewToken refresh, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Command($"""
            {InsertToken("a")};
            {InsertToken("r")};
            UPDATE mcp_oauth_connections SET last_used_at = @aCreated WHERE connection_id = @aConnection;
            """);
        Bind(insert.Parameters, "a", access);
        Bind(insert.Parameters, "r", refresh);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>One token alone (a personal token: an access token with no refresh token).</summary>
    public static async Task InsertAsync(NpgsqlTransaction transaction, NewToken token, CancellationToken cancellationToken)
    {
        await using var insert = transaction.Command(InsertToken("t"));
        Bind(insert.Parameters, "t", token);
        await insert.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string InsertToken(string p) => $"""
        INSERT INTO mcp_oauth_tokens (token_hash, kind, family_id, connection_id, client_id, user_id, scope, resource, created_at, expires_at)
        VALUES (@{p}Hash, @{p}Kind, @{p}Family, @{p}Connection, @{p}Client, @{p}User, @{p}Scope, @{p}Resource, @{p}Created, @{p}Expires)
        """;

    private static void Bind(NpgsqlParameterCollection parameters, string p, NewToken token) =>
        parameters.With(p + "Hash", token.TokenHash).With(p + "Kind", token.Kind).With(p + "Family", token.FamilyId).With(p + "Connection", token.ConnectionId)
            .With(p + "Client", token.ClientId).With(p + "User", token.UserId).With(p + "Scope", token.Scope).With(p + "Resource", token.Resource)
            .With(p + "Created", token.CreatedAt).With(p + "Expires", token.ExpiresAt);

    /// <summary>
    /// The connection of a client's refresh token, read without a lock (the caller's transaction then locks
    /// the connection first): null for an unknown token, "" for a token whose connection is gone.
    /// </summary>
    public static Task<string?> ConnectionOfRefreshTokenAsync(NeotomaDatabase database, string tokenHash, string clientId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command(
                "SELECT coalesce(connection_id, '') FROM mcp_oauth_tokens WHERE token_hash = @hash AND kind = 'refresh' AND client_id = @client");
            command.Parameters.With("hash", tokenHash).With("client", clientId);
            return await command.ExecuteScalarAsync(cancellationToken) as string;
        }, cancellationToken);

    /// <summary>
    /// Spends a refresh token. If it was rotated after <paramref name="graceStart"/>, the client probably
    /// lost our answer (a dropped connection, a crashed process): it may redeem it once more, and no more.
    /// Null when the token is not usable either way.
    /// </summary>
    public static async Task<SpentRefreshToken?> SpendRefreshTokenAsync(
        NpgsqlTransaction transaction, string tokenHash, DateTimeOffset now, DateTimeOffset graceStart, CancellationToken cancellationToken)
    {
        await using var spend = transaction.Command("""
            UPDATE mcp_oauth_tokens SET used_at = @now
            WHERE token_hash = @hash AND kind = 'refresh' AND used_at IS NULL AND revoked_at IS NULL AND expires_at > @now
            RETURNING family_id, client_id, user_id, scope, resource
            """);
        await using var again = transaction.Command("""
            UPDATE mcp_oauth_tokens SET revoked_at = @now
            WHERE token_hash = @hash AND kind = 'refresh' AND used_at > @graceStart AND revoked_at IS NULL AND expires_at > @now
            RETURNING family_id, client_id, user_id, scope, resource
            """);
        foreach (var command in new[] { spend, again })
        {
            command.Parameters.With("hash", tokenHash).With("now", now).With("graceStart", graceStart);
            if (await command.FirstAsync(reader => new SpentRefreshToken(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                    reader.GetString(4)), cancellationToken) is { } spent)
            {
                return spent;
            }
        }

        return null;
    }

    public static async Task<bool> WasUsedAsync(NpgsqlTransaction transaction, string tokenHash, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("SELECT used_at IS NOT NULL FROM mcp_oauth_tokens WHERE token_hash = @hash");
        command.Parameters.AddWithValue("hash", tokenHash);
        return await command.ExecuteScalarAsync(cancellationToken) is true;
    }

    /// <summary>A token's kind, client and connection, and whether its client is confidential (it authenticates: a secret or a key); null for an unknown token.</summary>
    public static async Task<(string Kind, string ClientId, string? ConnectionId, bool ConfidentialClient)?> FindTokenAsync(
        NpgsqlTransaction transaction, string tokenHash, CancellationToken cancellationToken)
    {
        await using var find = transaction.Command("""
            SELECT t.kind, t.client_id, t.connection_id, coalesce(c.token_endpoint_auth_method <> 'none', false)
            FROM mcp_oauth_tokens t LEFT JOIN mcp_oauth_clients c ON c.client_id = t.client_id WHERE t.token_hash = @hash
            """);
        find.Parameters.AddWithValue("hash", tokenHash);
        var rows = await find.ListAsync(reader => (reader.GetString(0), reader.GetString(1), reader.Text(2), reader.GetBoolean(3)), cancellationToken);
        return rows.Count == 1 ? rows[0] : null;
    }

    public static async Task RevokeTokenAsync(NpgsqlTransaction transaction, string tokenHash, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var revoke = transaction.Command("UPDATE mcp_oauth_tokens SET revoked_at = coalesce(revoked_at, @now) WHERE token_hash = @hash");
        revoke.Parameters.With("hash", tokenHash).With("now", now);
        await revoke.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// A live access token of a live connection, in one indexed read. A personal token ends at its own
    /// expiry or <paramref name="personalTokenMaxLifetime"/> after it was made, whichever is first, so one
    /// issued before the maximum was lowered is bound by it too.
    /// </summary>
    public static Task<LiveAccessToken?> FindLiveAccessTokenAsync(
        NeotomaDatabase database, string tokenHash, DateTimeOffset now, TimeSpan personalTokenMaxLifetime, CancellationToken cancellationToken) =>
        database.QuerySingleAsync(DbScope.OAuth, """
            SELECT t.user_id, t.client_id, t.connection_id, t.scope, t.resource, e.expires_at
            FROM mcp_oauth_tokens t JOIN mcp_oauth_connections c ON c.connection_id = t.connection_id,
                 LATERAL (SELECT LEAST(t.expires_at, CASE WHEN c.origin = 'personal' THEN c.created_at + @personalMax END) AS expires_at) e
            WHERE t.token_hash = @hash AND t.kind = 'access' AND t.revoked_at IS NULL AND e.expires_at > @now AND c.revoked_at IS NULL
            """,
            parameters => parameters.With("hash", tokenHash).With("now", now).With("personalMax", personalTokenMaxLifetime),
            reader => new LiveAccessToken(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.At(5)),
            cancellationToken);

    /// <summary>Deletes up to <paramref name="limit"/> expired tokens (rows locked elsewhere are left for the next batch); how many.</summary>
    public static async Task<int> DeleteExpiredTokensAsync(NpgsqlTransaction transaction, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var delete = transaction.Command("""
            DELETE FROM mcp_oauth_tokens WHERE token_hash IN (
                SELECT token_hash FROM mcp_oauth_tokens WHERE expires_at <= @now LIMIT @batch FOR UPDATE SKIP LOCKED)
            """);
        delete.Parameters.With("now", now).With("batch", limit);
        return await delete.ExecuteNonQueryAsync(cancellationToken);
    }
}
