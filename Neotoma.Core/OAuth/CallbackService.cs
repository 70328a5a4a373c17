using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Where the browser goes after the callback: back to the MCP client (or to the connections page),
/// or a page for a client-less connection. <see cref="SignInId"/> set: the browser that started this
/// sign-in came back, so it may be signed in to the connections page as <see cref="UserId"/>, bounded by that sign-in.
/// </summary>
public sealed record CallbackOutcome(Uri? ClientRedirect, string ConnectionId, string UserId, string? ClientName, string? SignInId = null);

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
    BrowserSignIns signIns,
    UpstreamRevocations upstreamRevocations,
    Identities identities,
    AuditLog audit,
    TimeProvider timeProvider,
    ILogger<CallbackService> logger)
{
    internal const string ConnectionIdTaken =
        "This connection_id is already in use (connection ids are never reused, not even after revocation); start again without choosing one.";

    /// <param name="browserBinding">The binding cookie this browser holds, if any (see <see cref="AuthorizationService.DecideAsync"/>).</param>
    /// <param name="signedInAs">Who this browser is signed in to the connections page as, if anyone.</param>
    public async Task<CallbackOutcome> CompleteAsync(
        string? code, string? state, string? upstreamError, string? browserBinding, string? signedInAs, string? clientIp, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(state))
        {
            throw await FailAsync(null, clientIp, OAuthErrorCode.OAUTH_STATE_INVALID,
                "The sign-in response has no state. Start the connection again from your MCP client.", cancellationToken);
        }

        var row = await AuthorizationStateStore.TakeAsync(database, state, cancellationToken);
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
                "The sign-in provider did not sign you in" + (string.IsNullOrEmpty(upstreamError) ? "." : $" ({DisplayText.Printable(upstreamError)})."),
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

        var userId = await identities.OfUpstreamAsync(identity.Issuer, identity.Subject, identity.TenantId, identity.ObjectId, cancellationToken);
        var sameBrowser = row.BrowserBinding is not null && browserBinding is not null
            && TokenCipher.SameText(row.BrowserBinding, OpaqueToken.Hash(browserBinding));
        if (row.Flow == SignInFlows.Web)
        {
            if (!sameBrowser)
            {
                // Someone else's sign-in link: following it must not sign this browser in as them. The
                // provider's tokens it brought are held by nothing, so they go to the provider for revocation.
                if (tokens.RefreshToken is { } unheld)
                {
                    await database.InTransactionAsync(DbScope.OAuth, (connection, transaction) =>
                        upstreamRevocations.QueueAsync(connection, transaction, userId, cipher.Encrypt(unheld), "refresh_token",
                            "a sign-in finished in another browser", timeProvider.GetUtcNow(), onlyIfLastHolder: true, cancellationToken), cancellationToken);
                }

                throw await FailAsync(row, clientIp, OAuthErrorCode.OAUTH_STATE_INVALID,
                    "This sign-in was started in another browser. Open the connections page and sign in again here.", cancellationToken);
            }

            // The connections page's own sign-in keeps the provider's tokens: it is re-checked with them.
            var signInId = await signIns.StartAsync(userId, tokens, cancellationToken);
            await audit.WriteAsync(new AuditEntry(AuditEvents.WebSignIn, UserId: userId, ClientIp: clientIp), cancellationToken);
            return new CallbackOutcome(new Uri(options.Issuer + "/connections"), row.ConnectionId, userId, null, signInId);
        }

        var clientCode = OpaqueToken.New(32);
        await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await CreateConnectionAsync(transaction, row, userId, tokens, cancellationToken);
            if (row.ClientId is not null)
            {
                await InsertCodeAsync(transaction, row, clientCode, cancellationToken);
            }
        }, cancellationToken);

        OAuthLog.ConnectionCreated(logger, row.ConnectionId, userId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.CallbackSuccess, row.ConnectionId, userId, row.ClientId, clientIp), cancellationToken);

        // The browser that approved is the one that signed in: it is signed in to the connections page too
        // (unless it already is, as this person: that session and its sign-in stay), by a sign-in that holds
        // no provider tokens (this connection holds them), so it ends at the session's absolute lifetime.
        var browserSignIn = sameBrowser && signedInAs != userId ? await signIns.StartAsync(userId, tokens: null, cancellationToken) : null;
        if (row.ClientId is null || row.RedirectUri is null)
        {
            return new CallbackOutcome(null, row.ConnectionId, userId, row.ClientName, browserSignIn);
        }

        if (sameBrowser)
        {
            // The approval was this person's.
            await consents.RememberAsync(userId, row.ClientId, row.RedirectUri, row.Scope ?? NeotomaScopes.Default, cancellationToken);
        }

        return new CallbackOutcome(ClientRedirect(row, clientCode), row.ConnectionId, userId, row.ClientName, browserSignIn);
    }

    /// <summary>
    /// An authorization this signed-in person already approved and continued: a new connection and code,
    /// without a sign-in at the provider. The web session's sign-in stands for that, so the connection is
    /// bound to it and ends with it (<see cref="BrowserSignIns"/>).
    /// </summary>
    public async Task<Uri> CompleteRememberedAsync(AuthorizationRequest request, string userId, string signInId, string? clientIp, CancellationToken cancellationToken)
    {
        var row = new AuthorizationState("conn_" + OpaqueToken.New(16), "", "", request.Client.ClientId, request.Client.ClientName, request.RedirectUri,
            request.CodeChallenge, request.State, request.Scope, request.Resource, timeProvider.GetUtcNow(), SignInFlows.Client);
        var clientCode = OpaqueToken.New(32);
        await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await BrowserSignIns.HoldAsync(transaction, signInId, cancellationToken);
            await CreateConnectionAsync(transaction, row, userId, tokens: null, cancellationToken, signInId);
            await InsertCodeAsync(transaction, row, clientCode, cancellationToken);
        }, cancellationToken);

        OAuthLog.ConnectionCreated(logger, row.ConnectionId, userId);
        OAuthLog.ConsentRemembered(logger, row.ConnectionId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.ConsentRemembered, row.ConnectionId, userId, row.ClientId, clientIp), cancellationToken);
        return ClientRedirect(row, clientCode);
    }

    private Uri ClientRedirect(AuthorizationState row, string clientCode)
    {
        var query = new Dictionary<string, string?> { ["code"] = clientCode };
        if (row.ClientState is not null)
        {
            query["state"] = row.ClientState;
        }

        query["iss"] = options.Issuer;
        return new Uri(QueryHelpers.AddQueryString(row.RedirectUri!, query));
    }

    private async Task CreateConnectionAsync(
        NpgsqlTransaction transaction, AuthorizationState row, string userId, UpstreamTokens? tokens, CancellationToken cancellationToken,
        string? signInId = null)
    {
        // A connection id is used once: a revoked connection is final and never revived, whoever signs in.
        // A client's connection is pending until its code is redeemed, which replaces the client's earlier
        // connection (TokenService); a code nobody redeems leaves the earlier one alone.
        var made = await GrantStore.CreateAsync(transaction, new NewConnection(row.ConnectionId, userId, timeProvider.GetUtcNow(),
            row.ClientId, row.ClientName, row.RedirectUri, row.Scope ?? (row.ClientId is null ? null : NeotomaScopes.Default),
            tokens is null ? null : new StoredUpstreamTokens(tokens.RefreshToken is { } refresh ? cipher.Encrypt(refresh) : null,
                cipher.Encrypt(tokens.AccessToken), tokens.AccessTokenExpiresAt),
            Pending: row.ClientId is not null, SignInId: signInId), cancellationToken);
        if (!made)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, ConnectionIdTaken);
        }
    }

    private async Task InsertCodeAsync(NpgsqlTransaction transaction, AuthorizationState row, string code, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        await CodeStore.InsertAsync(transaction, new NewCode(OpaqueToken.Hash(code), row.ConnectionId, row.ClientId!, row.RedirectUri!, row.CodeChallenge!,
            row.Scope ?? NeotomaScopes.Default, row.Resource ?? options.Resource, now, now + options.CodeLifetime), cancellationToken);
    }

    /// <summary>Logs and audits a failed callback (the user is not known yet: sign-in did not complete).</summary>
    private async Task<OAuthException> FailAsync(
        AuthorizationState? row, string? clientIp, OAuthErrorCode code, string description, CancellationToken cancellationToken)
    {
        OAuthLog.ApiError(logger, "MCPOAuthCallback", code.ToString());
        await audit.WriteAsync(new AuditEntry(AuditEvents.CallbackFailed, row?.ConnectionId, null, row?.ClientId, clientIp, false, code), cancellationToken);
        return new OAuthException(code, description);
    }

    /// <summary>Once the state proved which client and redirect URI started the flow, errors go back to that client.</summary>
    private Exception ToClientIfPossible(AuthorizationState row, OAuthException failure) =>
        row.RedirectUri is not null && row.ClientId is not null
            ? new AuthorizationErrorRedirect(authorization.ErrorRedirect(row.RedirectUri, failure.Code, failure.Message, row.ClientState), failure)
            : failure;
}
