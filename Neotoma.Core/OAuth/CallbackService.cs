using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Neotoma.Core.Web;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Where the browser goes after the callback: back to the MCP client (or to the connections page),
/// or a page for a client-less connection. <see cref="StartsSession"/>: the browser that started this
/// sign-in came back, so it may be signed in to the connections page as <see cref="UserId"/>.
/// </summary>
public sealed record CallbackOutcome(Uri? ClientRedirect, string ConnectionId, string UserId, string? ClientName, bool StartsSession = false);

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
    RememberedConsents consents,
    AuditLog audit,
    TokenRevocation revocation,
    TimeProvider timeProvider,
    ILogger<CallbackService> logger)
{
    internal const string ConnectionIdTaken =
        "This connection_id is already in use (connection ids are never reused, not even after revocation); start again without choosing one.";

    private sealed record StateRow(
        string ConnectionId, string Verifier, string Nonce, string? ClientId, string? ClientName, string? RedirectUri,
        string? CodeChallenge, string? ClientState, string? Scope, string? Resource, DateTimeOffset ExpiresAt,
        string Flow = SignInFlows.Client, string? BrowserBinding = null);

    /// <param name="browserBinding">The binding cookie this browser holds, if any (see <see cref="AuthorizationService.DecideAsync"/>).</param>
    public async Task<CallbackOutcome> CompleteAsync(
        string? code, string? state, string? upstreamError, string? browserBinding, string? clientIp, CancellationToken cancellationToken)
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
        var sameBrowser = row.BrowserBinding is not null && browserBinding is not null
            && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(row.BrowserBinding), Encoding.ASCII.GetBytes(OpaqueToken.Hash(browserBinding)));
        if (row.Flow == SignInFlows.Web)
        {
            if (!sameBrowser)
            {
                // Someone else's sign-in link: following it must not sign this browser in as them.
                throw await FailAsync(row, clientIp, OAuthErrorCode.OAUTH_STATE_INVALID,
                    "This sign-in was started in another browser. Open the connections page and sign in again here.", cancellationToken);
            }

            await audit.WriteAsync(new AuditEntry(AuditEvents.WebSignIn, UserId: userId, ClientIp: clientIp), cancellationToken);
            return new CallbackOutcome(new Uri(options.Issuer + "/connections"), row.ConnectionId, userId, null, StartsSession: true);
        }

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
            return new CallbackOutcome(null, row.ConnectionId, userId, row.ClientName, sameBrowser);
        }

        if (sameBrowser)
        {
            // The browser that approved is the one that signed in: the approval was this person's.
            await consents.RememberAsync(userId, row.ClientId, row.RedirectUri, row.Scope ?? NeotomaScopes.Default, cancellationToken);
        }

        return new CallbackOutcome(ClientRedirect(row, clientCode), row.ConnectionId, userId, row.ClientName, sameBrowser);
    }

    /// <summary>
    /// An authorization this signed-in person already approved: a new connection and code at once,
    /// without the consent page or a sign-in at the provider (the web session stands for that sign-in).
    /// </summary>
    public async Task<Uri> CompleteRememberedAsync(AuthorizationRequest request, string userId, string? clientIp, CancellationToken cancellationToken)
    {
        var row = new StateRow("conn_" + OpaqueToken.New(16), "", "", request.Client.ClientId, request.Client.ClientName, request.RedirectUri,
            request.CodeChallenge, request.State, request.Scope, request.Resource, timeProvider.GetUtcNow());
        var clientCode = OpaqueToken.New(32);
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await CreateConnectionAsync(connection, transaction, row, userId, tokens: null, cancellationToken);
            await InsertCodeAsync(connection, transaction, row, clientCode, cancellationToken);
        }, cancellationToken);

        OAuthLog.ConnectionCreated(logger, row.ConnectionId, userId);
        WebLog.ConsentRemembered(logger, row.ConnectionId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.ConsentRemembered, row.ConnectionId, userId, row.ClientId, clientIp), cancellationToken);
        return ClientRedirect(row, clientCode);
    }

    private Uri ClientRedirect(StateRow row, string clientCode)
    {
        var query = new Dictionary<string, string?> { ["code"] = clientCode };
        if (row.ClientState is not null)
        {
            query["state"] = row.ClientState;
        }

        query["iss"] = options.Issuer;
        return new Uri(QueryHelpers.AddQueryString(row.RedirectUri!, query));
    }

    private Task<StateRow?> ConsumeStateAsync(string state, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                DELETE FROM mcp_oauth_state WHERE state = @state
                RETURNING connection_id, upstream_code_verifier, upstream_nonce, client_id, client_name, redirect_uri,
                          code_challenge, client_state, scope, resource, expires_at, flow, browser_binding
                """, connection, transaction);
            command.Parameters.AddWithValue("state", state);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return null;
            }

            string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
            return new StateRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), Text(3), Text(4), Text(5),
                Text(6), Text(7), Text(8), Text(9), reader.GetFieldValue<DateTimeOffset>(10), reader.GetString(11), Text(12));
        }, cancellationToken);

    private async Task CreateConnectionAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, StateRow row, string userId, UpstreamTokens? tokens, CancellationToken cancellationToken)
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
                upstream_access_token, upstream_access_token_expires_at, created_at, last_used_at, redirect_uri, scope)
            VALUES (@id, @user, @client, @name, @refresh, @access, @accessExpires, @now, @now, @redirect, @scope)
            ON CONFLICT (connection_id) DO NOTHING
            """, connection, transaction);
        insert.Parameters.AddWithValue("id", row.ConnectionId);
        insert.Parameters.AddWithValue("user", userId);
        insert.Parameters.AddWithValue("client", (object?)row.ClientId ?? DBNull.Value);
        insert.Parameters.AddWithValue("name", (object?)row.ClientName ?? DBNull.Value);
        insert.Parameters.AddWithValue("refresh", tokens?.RefreshToken is { } refresh ? cipher.Encrypt(refresh) : DBNull.Value);
        insert.Parameters.AddWithValue("access", tokens is null ? DBNull.Value : cipher.Encrypt(tokens.AccessToken));
        insert.Parameters.AddWithValue("accessExpires", tokens is null ? DBNull.Value : tokens.AccessTokenExpiresAt);
        insert.Parameters.AddWithValue("redirect", (object?)row.RedirectUri ?? DBNull.Value);
        insert.Parameters.AddWithValue("scope", (object?)row.Scope ?? (row.ClientId is null ? DBNull.Value : NeotomaScopes.Default));
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
