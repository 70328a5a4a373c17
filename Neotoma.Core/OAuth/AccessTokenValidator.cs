using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>Who an access token speaks for: the only source of the user id that MCP tools see.</summary>
public sealed record AccessGrant(string UserId, string ClientId, string ConnectionId, string Scope, string Resource);

/// <summary>Access-token validation for /mcp: the cache, else one indexed lookup; never a call upstream.</summary>
public sealed class AccessTokenValidator(NeotomaDatabase database, OAuthServerOptions options, AccessTokenCache cache, TimeProvider timeProvider)
{
    public async Task<AccessGrant?> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var hash = OpaqueToken.Hash(token);
        if (cache.TryGet(hash, out var cached))
        {
            return cached;
        }

        var found = await database.QuerySingleAsync(DbScope.OAuth, """
            SELECT t.user_id, t.client_id, t.connection_id, t.scope, t.resource, t.expires_at
            FROM mcp_oauth_tokens t JOIN mcp_oauth_connections c ON c.connection_id = t.connection_id
            WHERE t.token_hash = @hash AND t.kind = 'access' AND t.revoked_at IS NULL AND t.expires_at > @now AND c.revoked_at IS NULL
            """,
            parameters =>
            {
                parameters.AddWithValue("hash", hash);
                parameters.AddWithValue("now", timeProvider.GetUtcNow());
            },
            reader => (Grant: new AccessGrant(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4)),
                       ExpiresAt: reader.GetFieldValue<DateTimeOffset>(5)),
            cancellationToken);
        if (found is not { } row || row.Grant.Resource != options.Resource)
        {
            return null;
        }

        cache.Add(hash, row.Grant, row.ExpiresAt);
        return row.Grant;
    }
}
