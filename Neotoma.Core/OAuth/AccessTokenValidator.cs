using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>Who an access token speaks for: the only source of the user id that MCP tools see.</summary>
public sealed record AccessGrant(string UserId, string ClientId, string ConnectionId, string Scope, string Resource);

/// <summary>
/// Access-token validation for /mcp: the cache, else one indexed lookup; never a call upstream.
/// Each use marks its connection as used, written at most once a minute per connection.
/// </summary>
public sealed class AccessTokenValidator(NeotomaDatabase database, OAuthServerOptions options, AccessTokenCache cache, TimeProvider timeProvider)
{
    private static readonly TimeSpan UsageInterval = TimeSpan.FromMinutes(1);

    /// <summary>When this instance last wrote each connection's last_used_at.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DateTimeOffset> usageWritten = new();

    public async Task<AccessGrant?> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var grant = await FindAsync(token, cancellationToken);
        if (grant is not null)
        {
            await RecordUseAsync(grant.ConnectionId, cancellationToken);
        }

        return grant;
    }

    private async Task RecordUseAsync(string connectionId, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        if (usageWritten.TryGetValue(connectionId, out var written) && now - written < UsageInterval)
        {
            return;
        }

        usageWritten[connectionId] = now;
        // Another instance may have written it moments ago: the WHERE keeps that to one write a minute too.
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var touch = new Npgsql.NpgsqlCommand(
                "UPDATE mcp_oauth_connections SET last_used_at = @now WHERE connection_id = @id AND (last_used_at IS NULL OR last_used_at < @since)",
                connection, transaction);
            touch.Parameters.AddWithValue("id", connectionId);
            touch.Parameters.AddWithValue("now", now);
            touch.Parameters.AddWithValue("since", now - UsageInterval);
            await touch.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);
    }

    private async Task<AccessGrant?> FindAsync(string token, CancellationToken cancellationToken)
    {
        var hash = OpaqueToken.Hash(token);
        if (cache.TryGet(hash, out var cached, out var ticket))
        {
            return cached;
        }

        // A personal token ends at its own expiry or PERSONAL_TOKEN_MAX_DAYS after it was made,
        // whichever is first, so one issued before the maximum was lowered is bound by it too.
        var found = await database.QuerySingleAsync(DbScope.OAuth, """
            SELECT t.user_id, t.client_id, t.connection_id, t.scope, t.resource, e.expires_at
            FROM mcp_oauth_tokens t JOIN mcp_oauth_connections c ON c.connection_id = t.connection_id,
                 LATERAL (SELECT LEAST(t.expires_at, CASE WHEN c.origin = 'personal' THEN c.created_at + @personalMax END) AS expires_at) e
            WHERE t.token_hash = @hash AND t.kind = 'access' AND t.revoked_at IS NULL AND e.expires_at > @now AND c.revoked_at IS NULL
            """,
            parameters =>
            {
                parameters.AddWithValue("hash", hash);
                parameters.AddWithValue("now", timeProvider.GetUtcNow());
                parameters.AddWithValue("personalMax", options.PersonalTokenMaxLifetime);
            },
            reader => (Grant: new AccessGrant(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)),
                       ExpiresAt: reader.GetFieldValue<DateTimeOffset>(5)),
            cancellationToken);
        if (found is not { } row || row.Grant.Resource != options.Resource)
        {
            return null;
        }

        cache.Add(ticket, hash, row.Grant, row.ExpiresAt);
        return row.Grant;
    }
}
