using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;
using Npgsql;

namespace Neotoma.Core.OAuth;

/// <summary>A validated authorization request: the client and redirect URI are trusted from here on.</summary>
public sealed record AuthorizationRequest(
    ClientRecord Client, string RedirectUri, string CodeChallenge, string? State, string Scope, string Resource)
{
    /// <summary>
    /// Where the person is sent back to, as shown on the consent and Continue pages: the host in its
    /// ASCII (punycode) form, so a look-alike such as <c>сlaude.ai</c> (Cyrillic <c>с</c>) cannot read
    /// as claude.ai.
    /// </summary>
    public string RedirectHost => Uri.TryCreate(RedirectUri, UriKind.Absolute, out var uri)
        ? (string.IsNullOrEmpty(uri.Authority) ? uri.Scheme + ":"
            : uri.Scheme is "http" or "https" ? DisplayText.AsciiAuthority(uri) : $"{uri.Scheme}://{DisplayText.AsciiAuthority(uri)}")
        : RedirectUri;
}

/// <summary>An error found after the client and redirect URI were trusted: it goes back to the client.</summary>
public sealed class AuthorizationErrorRedirect(Uri location, OAuthException error) : Exception(error.Message, error)
{
    public Uri Location { get; } = location;
}

public sealed record InitiatedFlow(string ConnectionId, Uri AuthUrl, DateTimeOffset ExpiresAt);

/// <summary>Which sign-in a state row starts.</summary>
public static class SignInFlows
{
    /// <summary>An MCP client's (or the guide's JSON initiate): ends in a connection.</summary>
    public const string Client = "client";

    /// <summary>The connections page's: ends in a web session only.</summary>
    public const string Web = "web";
}

/// <summary>
/// The authorization endpoint, the consent decision and the start of the upstream sign-in
/// (the guide's "initiate"). Consent is mandatory: every MCP client shares Neotoma's one
/// upstream client id, so skipping it would make Neotoma a confused deputy.
/// </summary>
public sealed partial class AuthorizationService(
    ClientRegistrationService clients,
    ClientMetadataDocuments documents,
    UpstreamIdentityProvider upstream,
    NeotomaDatabase database,
    OAuthServerOptions options,
    TokenCipher cipher,
    AuditLog audit,
    TimeProvider timeProvider,
    ILogger<AuthorizationService> logger)
{
    private static readonly TimeSpan ConsentLifetime = TimeSpan.FromMinutes(10);

    [GeneratedRegex("^[A-Za-z0-9_-]{1,100}$")]
    private static partial Regex ConnectionIdPattern();

    /// <summary>
    /// Validates an authorization request (query of GET /authorize, or the consent form). A
    /// client_id that is a URL is resolved through its metadata document; fetching one counts
    /// against <paramref name="clientIp"/>'s registration rate limit.
    /// </summary>
    public async Task<AuthorizationRequest> ValidateAsync(
        IEnumerable<KeyValuePair<string, StringValues>> parameters, string? clientIp, CancellationToken cancellationToken)
    {
        var p = OAuthParameters.SingleValued(parameters);
        var clientId = p.GetValueOrDefault("client_id");
        if (string.IsNullOrEmpty(clientId))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "client_id is missing. Register the client at /api/mcp/oauth/register first.");
        }

        var client = ClientMetadataDocuments.IsUrl(clientId)
            ? await documents.ResolveAsync(clientId, clientIp, cancellationToken)
            : await clients.FindAsync(clientId, cancellationToken)
            ?? throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_CLIENT,
                "This client_id is not registered with Neotoma (it may have been removed after long disuse). Remove and re-add the MCP server in your client.");

        var redirectUri = p.GetValueOrDefault("redirect_uri");
        if (string.IsNullOrEmpty(redirectUri))
        {
            redirectUri = client.RedirectUris.Count == 1
                ? client.RedirectUris[0]
                : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI, "redirect_uri is required: this client registered more than one.");
        }
        else if (!client.RedirectUris.Any(registered => RedirectUriPolicy.Matches(registered, redirectUri)))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI,
                $"redirect_uri '{DisplayText.Printable(redirectUri)}' does not match any URI this client registered.");
        }

        // From here the redirect URI is trusted: errors go back to the client.
        var state = p.GetValueOrDefault("state");
        OAuthException Redirectable(OAuthErrorCode code, string description) =>
            throw new AuthorizationErrorRedirect(ErrorRedirect(redirectUri, code, description, state), new OAuthException(code, description));

        if (p.GetValueOrDefault("response_type") != "code")
        {
            throw Redirectable(OAuthErrorCode.OAUTH_UNSUPPORTED_RESPONSE_TYPE, "response_type must be \"code\".");
        }

        var challenge = p.GetValueOrDefault("code_challenge");
        if (!Pkce.IsValidChallenge(challenge))
        {
            throw Redirectable(OAuthErrorCode.OAUTH_INVALID_REQUEST, "code_challenge is required: PKCE with S256 (43 base64url characters).");
        }

        if (p.GetValueOrDefault("code_challenge_method") != "S256")
        {
            throw Redirectable(OAuthErrorCode.OAUTH_INVALID_REQUEST, "code_challenge_method must be S256.");
        }

        var requestedScope = p.GetValueOrDefault("scope");
        if (NeotomaScopes.Unknown(requestedScope).Any())
        {
            throw Redirectable(OAuthErrorCode.OAUTH_INVALID_SCOPE, $"Unknown scope; supported: {string.Join(" ", NeotomaScopes.Supported)}.");
        }

        var resource = p.GetValueOrDefault("resource");
        if (resource is not null && !options.IsOurResource(resource))
        {
            throw Redirectable(OAuthErrorCode.OAUTH_INVALID_TARGET, $"resource must be {options.Resource}.");
        }

        return new AuthorizationRequest(client, redirectUri, challenge!, state, NeotomaScopes.Normalize(requestedScope), options.Resource);
    }

    /// <summary>The CSRF token of the consent form, bound to the browser's cookie and to this exact request.</summary>
    public string ProtectConsent(AuthorizationRequest request, string browserNonce)
    {
        var expires = timeProvider.GetUtcNow().Add(ConsentLifetime).ToUnixTimeSeconds();
        return $"{expires}.{ConsentMac(request, browserNonce, expires)}";
    }

    /// <summary>
    /// The person's answer on the consent page. <paramref name="readOnly"/> is their choice to
    /// withhold <see cref="NeotomaScopes.Write"/>: consent may narrow what the client asked for, never widen it.
    /// </summary>
    /// <remarks>
    /// <paramref name="browserBinding"/> is a fresh secret the caller sets as a cookie in this
    /// browser; its hash goes with the state, so the callback knows whether the same browser came back.
    /// </remarks>
    public async Task<Uri> DecideAsync(
        AuthorizationRequest request, string? csrfToken, string? browserNonce, bool approved, bool readOnly, string browserBinding,
        string? clientIp, CancellationToken cancellationToken)
    {
        RequireConsentForm(request, csrfToken, browserNonce);
        if (!approved)
        {
            return ErrorRedirect(request.RedirectUri, OAuthErrorCode.OAUTH_ACCESS_DENIED, "The user denied access.", request.State);
        }

        var scope = request.Scope;
        if (readOnly)
        {
            scope = NeotomaScopes.Grants(scope, NeotomaScopes.Read)
                ? NeotomaScopes.Without(scope, NeotomaScopes.Write)
                : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_SCOPE, "This client asked only to make changes; read-only would leave it nothing to do. Approve or deny.");
        }

        var flow = await InitiateAsync(new PendingSignIn(NewConnectionId(), request.Client.ClientId, request.Client.ClientName,
            request.RedirectUri, request.CodeChallenge, request.State, scope, request.Resource, BrowserBinding: OpaqueToken.Hash(browserBinding)),
            clientIp, cancellationToken);
        return flow.AuthUrl;
    }

    /// <summary>Starts a sign-in to the connections page (no client, no connection): see <see cref="DecideAsync"/> for the binding.</summary>
    public async Task<Uri> InitiateWebSignInAsync(string browserBinding, string? clientIp, CancellationToken cancellationToken) =>
        (await InitiateAsync(new PendingSignIn("web_" + OpaqueToken.New(16), null, null, null, null, null, null, null,
            Flow: SignInFlows.Web, BrowserBinding: OpaqueToken.Hash(browserBinding)), clientIp, cancellationToken)).AuthUrl;

    /// <summary>The guide's JSON initiate: a connection for the signed-in user without an MCP client in the loop.</summary>
    public async Task<InitiatedFlow> InitiateConnectionAsync(string? connectionId, string? clientName, string? redirectUri, string? clientIp, CancellationToken cancellationToken)
    {
        if (connectionId is not null && !ConnectionIdPattern().IsMatch(connectionId))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST,
                "connection_id must match ^[A-Za-z0-9_-]{1,100}$ (letters, digits, '-' and '_', at most 100).");
        }

        if (connectionId is not null && await GrantStore.ExistsAsync(database, connectionId, cancellationToken))
        {
            // Said early for the caller's sake; the callback is what enforces it.
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, CallbackService.ConnectionIdTaken);
        }

        if (clientName is { Length: > ClientRegistrationService.MaxClientNameLength } || (clientName is not null && !DisplayText.IsShowable(clientName)))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST,
                $"client_name must be at most {ClientRegistrationService.MaxClientNameLength} characters without control or invisible formatting characters.");
        }

        if (redirectUri is not null && RedirectUriPolicy.Validate(redirectUri) is { } reason)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI,
                $"Redirect URI '{DisplayText.Printable(redirectUri)}' is not allowed: {reason}.");
        }

        return await InitiateAsync(new PendingSignIn(connectionId ?? NewConnectionId(), null, clientName, redirectUri, null, null, null, null),
            clientIp, cancellationToken);
    }

    public Uri ErrorRedirect(string redirectUri, OAuthErrorCode code, string description, string? state)
    {
        var query = new Dictionary<string, string?>
        {
            ["error"] = OAuthErrors.Describe(code).Error,
            ["error_description"] = $"{code}: {description}",
            ["error_code"] = code.ToString(),
        };
        if (state is not null)
        {
            query["state"] = state;
        }

        query["iss"] = options.Issuer;
        return new Uri(QueryHelpers.AddQueryString(redirectUri, query));
    }

    private sealed record PendingSignIn(
        string ConnectionId, string? ClientId, string? ClientName, string? RedirectUri, string? CodeChallenge,
        string? ClientState, string? Scope, string? Resource, string Flow = SignInFlows.Client, string? BrowserBinding = null);

    private async Task<InitiatedFlow> InitiateAsync(PendingSignIn pending, string? clientIp, CancellationToken cancellationToken)
    {
        var state = OpaqueToken.New(32);
        var verifier = OpaqueToken.New(32);
        var nonce = OpaqueToken.New(16);
        var now = timeProvider.GetUtcNow();
        var expires = now.Add(options.StateLifetime);
        var authUrl = await upstream.BuildAuthorizeUrlAsync(state, verifier, nonce, cancellationToken);

        await AuthorizationStateStore.SaveAsync(database, state, new AuthorizationState(pending.ConnectionId, verifier, nonce, pending.ClientId,
            pending.ClientName, pending.RedirectUri, pending.CodeChallenge, pending.ClientState, pending.Scope, pending.Resource, expires,
            pending.Flow, pending.BrowserBinding), now, cancellationToken);

        OAuthLog.Initiated(logger, pending.ConnectionId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.FlowInitiated, pending.ConnectionId, ClientId: pending.ClientId, ClientIp: clientIp), cancellationToken);
        return new InitiatedFlow(pending.ConnectionId, authUrl, expires);
    }

    /// <summary>
    /// What a Continue form is bound to beside the request: this browser's consent cookie and the
    /// person it was shown to, so a form shown to one person cannot be posted for another who signs in
    /// to the same browser meanwhile. Null when either is missing (such a form is refused).
    /// </summary>
    public static string? ContinueBinding(string? browserNonce, string? userId) =>
        browserNonce is { Length: > 0 } && userId is { Length: > 0 } ? browserNonce + " continue as " + userId : null;

    /// <summary>Refuses a consent or continue form that this browser was not shown for this exact request, or that has expired.</summary>
    public void RequireConsentForm(AuthorizationRequest request, string? csrfToken, string? browserNonce)
    {
        if (!IsValidConsent(request, csrfToken, browserNonce))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_CONSENT_INVALID,
                "This consent form has expired or did not come from this browser. Go back to your MCP client and connect again.");
        }
    }

    private bool IsValidConsent(AuthorizationRequest request, string? token, string? browserNonce)
    {
        if (string.IsNullOrEmpty(token) || string.IsNullOrEmpty(browserNonce))
        {
            return false;
        }

        var dot = token.IndexOf('.');
        if (dot <= 0 || !long.TryParse(token.AsSpan(0, dot), out var expires) || expires < timeProvider.GetUtcNow().ToUnixTimeSeconds())
        {
            return false;
        }

        var expected = ConsentMac(request, browserNonce, expires);
        return TokenCipher.SameText(expected, token[(dot + 1)..]);
    }

    private string ConsentMac(AuthorizationRequest request, string browserNonce, long expires)
    {
        var material = string.Join('\n', expires, browserNonce, request.Client.ClientId, request.RedirectUri,
            request.CodeChallenge, request.State ?? "", request.Scope, request.Resource);
        return cipher.Mac("neotoma-consent-csrf-v1", material);
    }

    private static string NewConnectionId() => "conn_" + OpaqueToken.New(16);
}
