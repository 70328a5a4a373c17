using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>Where the browser goes after the callback: back to the MCP client, or a page for a client-less connection.</summary>
public sealed record CallbackOutcome(Uri? ClientRedirect, string ConnectionId, string UserId, string? ClientName);

/// <summary>
/// The upstream provider's redirect back to Neotoma. Consumes the state row atomically
/// (DELETE ... RETURNING: of many concurrent callbacks with one state exactly one proceeds),
/// signs the user in through the upstream, records the connection, and hands the MCP client
/// Neotoma's own single-use code.
/// </summary>
public sealed class CallbackService(
    UpstreamIdentityProvider upstream,
    NeotomaDatabase database,
    OAuthServerOptions options,
    TokenCipher cipher,
    AuthorizationService authorization,
    AuditLog audit,
    TokenRevocation revocation,
    TimeProvider timeProvider,
    ILogger<CallbackService> logger)
{
    internal const string ConnectionIdTaken =
        "This connection_id is already in use (connection ids are never reused, not even after revocation); start again without choosing one.";

    private sealed record StateRow(
        string ConnectionId, string Verifier, string Nonce, string? ClientId, string? ClientName, string? RedirectUri,
        string? CodeChallenge, string? ClientState, string? Scope, string? Resource, DateTimeOffset ExpiresAt);

    public async Task<CallbackOutcome> CompleteAsync(
        string? code, string? state, string? upstreamError, string? clientIp, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(state))
        {
            throw await FailAsync(null, clientIp, OAuthErrorCode.OAUTH_STATE_INVALID,
                "The sign-in response has no state. Start the connection again from your MCP client.", cancellationToken);
        }

        var row = await ConsumeStateAsync(state, cancellationToken);
        if (row is null)
        {
            OAuthLog.InvalidState(logger, state.Length > 8 ? state[..8] : state);
            throw await FailAsync(null, clientIp, OAuthErrorCode.OAUTH_STATE_INVALID,
                "This sign-in link is unknown or was already used (for example after pressing Back). Start the connection again from your MCP client.",
                cancellationToken);
        }

        if (row.ExpiresAt <= timeProvider.GetUtcNow())
        {
            OAuthLog.InvalidState(logger, state[..8]);
            throw await FailAsync(row, clientIp, OAuthErrorCode.OAUTH_STATE_EXPIRED,
                "This sign-in took longer than 10 minutes and expired. Start the connection again from your MCP client and finish within 10 minutes.",
                cancellationToken);
        }

        if (!string.IsNullOrEmpty(upstreamError) || string.IsNullOrEmpty(code))
        {
            var failure = await FailAsync(row, clientIp, OAuthErrorCode.OAUTH_ACCESS_DENIED,
                "The sign-in provider did not sign you in" + (string.IsNullOrEmpty(upstreamError) ? "." : $" ({ClientRegistrationService.Printable(upstreamError)})."),
                cancellationToken);
            throw ToClientIfPossible(row, failure);
        }

        UpstreamTokens tokens;
        UpstreamIdentity identity;
        try
        {
            tokens = await upstream.ExchangeCodeAsync(code, row.Verifier, cancellationToken);
            identity = await upstream.ValidateIdTokenAsync(tokens.IdToken, row.Nonce, cancellationToken);
        }
        catch (OAuthException e)
        {
            var failure = await FailAsync(row, clientIp, e.Code, e.Message, cancellationToken);
            throw ToClientIfPossible(row, failure);
        }

        var userId = identity.Subject;
        var clientCode = OpaqueToken.New(32);
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await CreateConnectionAsync(connection, transaction, row, userId, tokens, cancellationToken);
            if (row.ClientId is not null)
            {
                await InsertCodeAsync(connection, transaction, row, clientCode, cancellationToken);
            }
        }, cancellationToken);

        OAuthLog.ConnectionCreated(logger, row.ConnectionId, userId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.CallbackSuccess, row.ConnectionId, userId, row.ClientId, clientIp), cancellationToken);

        if (row.ClientId is null || row.RedirectUri is null)
        {
            return new CallbackOutcome(null, row.ConnectionId, userId, row.ClientName);
        }

        var query = new Dictionary<string, string?> { ["code"] = clientCode };
        if (row.ClientState is not null)
        {
            query["state"] = row.ClientState;
        }

        query["iss"] = options.Issuer;
        return new CallbackOutcome(new Uri(QueryHelpers.AddQueryString(row.RedirectUri, query)), row.ConnectionId, userId, row.ClientName);
    }

    private Task<StateRow?> ConsumeStateAsync(string state, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                DELETE FROM mcp_oauth_state WHERE state = @state
                RETURNING connection_id, upstream_code_verifier, upstream_nonce, client_id, client_name, redirect_uri,
                          code_challenge, client_state, scope, resource, expires_at
                """, connection, transaction);
            command.Parameters.AddWithValue("state", state);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            return new StateRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), Text(3), Text(4), Text(5),
                Text(6), Text(7), Text(8), Text(9), reader.GetFieldValue<DateTimeOffset>(10));
        }, cancellationToken);

    private async Task CreateConnectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, StateRow row, string userId, UpstreamTokens tokens, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        if (row.ClientId is not null)
        {
            // Re-authorizing a client replaces its earlier grant, and with it every token of that grant.
            var earlier = new List<string>();
            await using (var find = new NpgsqlCommand("""
                SELECT connection_id FROM mcp_oauth_connections
                WHERE user_id = @user AND client_id = @client AND revoked_at IS NULL
                ORDER BY connection_id FOR UPDATE
                """, connection, transaction))
            {
                find.Parameters.AddWithValue("user", userId);
                find.Parameters.AddWithValue("client", row.ClientId);
                await using var reader = await find.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    earlier.Add(reader.GetString(0));
                }
            }

            foreach (var id in earlier)
            {
                await revocation.RevokeConnectionAsync(connection, transaction, id, cancellationToken);
            }
        }

        // A connection id is used once: a revoked connection is final and never revived, whoever signs in.
        await using var insert = new NpgsqlCommand("""
            INSERT INTO mcp_oauth_connections (connection_id, user_id, client_id, client_name, refresh_token,
                upstream_access_token, upstream_access_token_expires_at, created_at, last_used_at)
            VALUES (@id, @user, @client, @name, @refresh, @access, @accessExpires, @now, @now)
            ON CONFLICT (connection_id) DO NOTHING
            """, connection, transaction);
        insert.Parameters.AddWithValue("id", row.ConnectionId);
        insert.Parameters.AddWithValue("user", userId);
        insert.Parameters.AddWithValue("client", (object?)row.ClientId ?? DBNull.Value);
        insert.Parameters.AddWithValue("name", (object?)row.ClientName ?? DBNull.Value);
        insert.Parameters.AddWithValue("refresh", tokens.RefreshToken is null ? DBNull.Value : cipher.Encrypt(tokens.RefreshToken));
        insert.Parameters.AddWithValue("access", cipher.Encrypt(tokens.AccessToken));
        insert.Parameters.AddWithValue("accessExpires", tokens.AccessTokenExpiresAt);
        insert.Parameters.AddWithValue("now", now);
        if (await insert.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, ConnectionIdTaken);
        }
    }

    private async Task InsertCodeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, StateRow row, string code, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        await using var command = new NpgsqlCommand("""
            INSERT INTO mcp_oauth_codes (code_hash, connection_id, client_id, redirect_uri, code_challenge, scope, resource, created_at, expires_at)
            VALUES (@hash, @connection, @client, @redirect, @challenge, @scope, @resource, @now, @expires)
            """, connection, transaction);
        command.Parameters.AddWithValue("hash", OpaqueToken.Hash(code));
        command.Parameters.AddWithValue("connection", row.ConnectionId);
        command.Parameters.AddWithValue("client", row.ClientId!);
        command.Parameters.AddWithValue("redirect", row.RedirectUri!);
        command.Parameters.AddWithValue("challenge", row.CodeChallenge!);
        command.Parameters.AddWithValue("scope", row.Scope ?? NeotomaScopes.Default);
        command.Parameters.AddWithValue("resource", row.Resource ?? options.Resource);
        command.Parameters.AddWithValue("now", now);
        command.Parameters.AddWithValue("expires", now.Add(options.CodeLifetime));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>Logs and audits a failed callback (the user is not known yet: sign-in did not complete).</summary>
    private async Task<OAuthException> FailAsync(
        StateRow? row, string? clientIp, OAuthErrorCode code, string description, CancellationToken cancellationToken)
    {
        OAuthLog.ApiError(logger, "MCPOAuthCallback", code.ToString());
        await audit.WriteAsync(new AuditEntry(AuditEvents.CallbackFailed, row?.ConnectionId, null, row?.ClientId, clientIp, false, code), cancellationToken);
        return new OAuthException(code, description);
    }

    /// <summary>Once the state proved which client and redirect URI started the flow, errors go back to that client.</summary>
    private Exception ToClientIfPossible(StateRow row, OAuthException failure) =>
        row.RedirectUri is not null && row.ClientId is not null
            ? new AuthorizationErrorRedirect(authorization.ErrorRedirect(row.RedirectUri, failure.Code, failure.Message, row.ClientState), failure)
            : failure;
}
