namespace Neotoma.Core.Errors;

/// <summary>
/// Every error a user can hit, named as in the troubleshooting guide so that its scenarios
/// apply word for word. Each maps once (in <see cref="OAuthErrors"/>) to an HTTP status and
/// the RFC 6749 / RFC 7591 / RFC 8707 <c>error</c> string.
/// </summary>
public enum OAuthErrorCode
{
    OAUTH_CLIENT_REGISTRATION_FAILED,
    OAUTH_INVALID_CLIENT_METADATA,
    OAUTH_INVALID_REDIRECT_URI,
    OAUTH_INVALID_CLIENT,
    OAUTH_CLIENT_METADATA_DOCUMENT_INVALID,
    OAUTH_INVALID_REQUEST,
    OAUTH_UNSUPPORTED_RESPONSE_TYPE,
    OAUTH_UNSUPPORTED_GRANT_TYPE,
    OAUTH_INVALID_SCOPE,
    OAUTH_INVALID_TARGET,
    OAUTH_ACCESS_DENIED,
    OAUTH_CONSENT_INVALID,
    OAUTH_STATE_INVALID,
    OAUTH_STATE_EXPIRED,
    OAUTH_UPSTREAM_ERROR,
    OAUTH_TOKEN_EXCHANGE_FAILED,
    OAUTH_ID_TOKEN_INVALID,
    OAUTH_INVALID_GRANT,
    OAUTH_PKCE_FAILED,
    OAUTH_TOKEN_REFRESH_FAILED,
    OAUTH_CONNECTION_NOT_FOUND,
    OAUTH_ENCRYPTION_KEY_MISSING,
    OAUTH_ENCRYPTION_KEY_INVALID,
    OAUTH_RATE_LIMITED,
    OAUTH_UPSTREAM_UNAVAILABLE,
    OAUTH_DATABASE_UNAVAILABLE,
    /// <summary>A form of the person's pages posted by a browser whose web session (or the sign-in behind it) has ended.</summary>
    OAUTH_WEB_SESSION_ENDED,
    /// <summary>A form of the person's pages posted from another site (its Origin is not API_BASE): refused before anything is read.</summary>
    OAUTH_FORM_FROM_OTHER_SITE,
    /// <summary>A form of the person's pages whose CSRF token is missing, expired, or was not given to this session.</summary>
    OAUTH_FORM_EXPIRED,
    /// <summary>A client whose document declares private_key_jwt sent no client assertion (it cannot fall back to PKCE alone).</summary>
    OAUTH_CLIENT_ASSERTION_MISSING,
    /// <summary>A client assertion that does not hold: its form, algorithm, signature, iss/sub, aud or exp; or one sent by a client that declared none.</summary>
    OAUTH_CLIENT_ASSERTION_INVALID,
    /// <summary>A client assertion whose jti was used before (each assertion is good for one request).</summary>
    OAUTH_CLIENT_ASSERTION_REPLAYED,
    /// <summary>A client assertion signed with a key that is not in the client's JWKS, even after reading it again.</summary>
    OAUTH_CLIENT_ASSERTION_KEY_UNKNOWN,
    /// <summary>The client's jwks_uri answered, but not with a usable key set (HTTP 4xx, too large, not a JWKS, a private address).</summary>
    OAUTH_CLIENT_JWKS_INVALID,
    /// <summary>The client's jwks_uri did not answer (timeout, connection refused, HTTP 5xx): a dependency down, retried later.</summary>
    OAUTH_CLIENT_JWKS_UNAVAILABLE,
    /// <summary>The JWT bearer grant from a client that did not prove who it is (a public client, or no client authentication).</summary>
    OAUTH_ENTERPRISE_CLIENT_REQUIRED,
    /// <summary>An ID-JAG that is not a JWT, is signed with another algorithm or key, or lacks a claim it needs (sub, jti, iat, exp).</summary>
    OAUTH_ID_JAG_INVALID,
    /// <summary>A JWT whose header typ is not oauth-id-jag+jwt (an ID token or access token sent as an ID-JAG).</summary>
    OAUTH_ID_JAG_WRONG_TYPE,
    /// <summary>An ID-JAG from an issuer not in ENTERPRISE_IDPS, from a tenant not allowed, or for a client that IdP may not grant.</summary>
    OAUTH_ID_JAG_UNTRUSTED_ISSUER,
    /// <summary>An ID-JAG whose aud is not Neotoma's issuer.</summary>
    OAUTH_ID_JAG_WRONG_AUDIENCE,
    /// <summary>An ID-JAG whose resource is not Neotoma's /mcp.</summary>
    OAUTH_ID_JAG_WRONG_RESOURCE,
    /// <summary>An ID-JAG past its exp, or issued too long ago or in the future.</summary>
    OAUTH_ID_JAG_EXPIRED,
    /// <summary>An ID-JAG whose jti was used before (each ID-JAG is good for one token request).</summary>
    OAUTH_ID_JAG_REPLAYED,
    /// <summary>An ID-JAG issued to another client than the one that authenticated the request.</summary>
    OAUTH_ID_JAG_CLIENT_MISMATCH,
    /// <summary>Nothing is left of the ID-JAG's scopes once intersected with the request's and the IdP's most.</summary>
    OAUTH_ID_JAG_SCOPE_NOT_GRANTED,
    /// <summary>The person revoked this client's enterprise-granted access on the connections page.</summary>
    OAUTH_ENTERPRISE_ACCESS_REVOKED,
    /// <summary>The enterprise IdP's discovery document or keys could not be read.</summary>
    OAUTH_ENTERPRISE_IDP_UNAVAILABLE,
}

/// <summary>How an error is answered: HTTP status, RFC <c>error</c>, and for a passing outage the Retry-After seconds.</summary>
public sealed record OAuthErrorInfo(int Status, string Error, int? RetryAfterSeconds = null);

public static class OAuthErrors
{
    public static OAuthErrorInfo Describe(OAuthErrorCode code) => code switch
    {
        OAuthErrorCode.OAUTH_CLIENT_REGISTRATION_FAILED => new(502, "server_error"),
        OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA => new(400, "invalid_client_metadata"),
        OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI => new(400, "invalid_redirect_uri"),
        OAuthErrorCode.OAUTH_INVALID_CLIENT => new(401, "invalid_client"),
        OAuthErrorCode.OAUTH_CLIENT_METADATA_DOCUMENT_INVALID => new(400, "invalid_client"),
        OAuthErrorCode.OAUTH_INVALID_REQUEST => new(400, "invalid_request"),
        OAuthErrorCode.OAUTH_UNSUPPORTED_RESPONSE_TYPE => new(400, "unsupported_response_type"),
        OAuthErrorCode.OAUTH_UNSUPPORTED_GRANT_TYPE => new(400, "unsupported_grant_type"),
        OAuthErrorCode.OAUTH_INVALID_SCOPE => new(400, "invalid_scope"),
        OAuthErrorCode.OAUTH_INVALID_TARGET => new(400, "invalid_target"),
        OAuthErrorCode.OAUTH_ACCESS_DENIED => new(403, "access_denied"),
        OAuthErrorCode.OAUTH_CONSENT_INVALID => new(400, "invalid_request"),
        OAuthErrorCode.OAUTH_STATE_INVALID => new(400, "invalid_request"),
        OAuthErrorCode.OAUTH_STATE_EXPIRED => new(400, "invalid_request"),
        OAuthErrorCode.OAUTH_UPSTREAM_ERROR => new(502, "server_error"),
        OAuthErrorCode.OAUTH_TOKEN_EXCHANGE_FAILED => new(502, "server_error"),
        OAuthErrorCode.OAUTH_ID_TOKEN_INVALID => new(502, "server_error"),
        OAuthErrorCode.OAUTH_INVALID_GRANT => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_PKCE_FAILED => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING => new(500, "server_error"),
        OAuthErrorCode.OAUTH_ENCRYPTION_KEY_INVALID => new(500, "server_error"),
        OAuthErrorCode.OAUTH_RATE_LIMITED => new(429, "rate_limited"),
        // A passing outage: the connection and its tokens are kept, and a retry works once the dependency is back.
        OAuthErrorCode.OAUTH_UPSTREAM_UNAVAILABLE => new(503, "temporarily_unavailable", 5),
        OAuthErrorCode.OAUTH_DATABASE_UNAVAILABLE => new(503, "temporarily_unavailable", 2),
        // 403, not 401: a 401 must carry a WWW-Authenticate challenge, and a cookie session has none to offer.
        // login_required (OpenID Connect Core 3.1.2.6) says what the person does next: sign in again.
        OAuthErrorCode.OAUTH_WEB_SESSION_ENDED => new(403, "login_required"),
        // 400, as ASP.NET Core answers a failed antiforgery check: both are the page's CSRF defences.
        OAuthErrorCode.OAUTH_FORM_FROM_OTHER_SITE => new(400, "invalid_request"),
        OAuthErrorCode.OAUTH_FORM_EXPIRED => new(400, "invalid_request"),
        // RFC 6749 §5.2: a client that fails to authenticate is 401 invalid_client.
        OAuthErrorCode.OAUTH_CLIENT_ASSERTION_MISSING => new(401, "invalid_client"),
        OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID => new(401, "invalid_client"),
        OAuthErrorCode.OAUTH_CLIENT_ASSERTION_REPLAYED => new(401, "invalid_client"),
        OAuthErrorCode.OAUTH_CLIENT_ASSERTION_KEY_UNKNOWN => new(401, "invalid_client"),
        OAuthErrorCode.OAUTH_CLIENT_JWKS_INVALID => new(401, "invalid_client"),
        // The client's key host is down, not the client wrong: nothing is spent, and the same request works later.
        OAuthErrorCode.OAUTH_CLIENT_JWKS_UNAVAILABLE => new(503, "temporarily_unavailable", 5),
        OAuthErrorCode.OAUTH_ENTERPRISE_CLIENT_REQUIRED => new(401, "invalid_client"),
        // RFC 7523 §3.1: a JWT bearer assertion that does not hold is invalid_grant.
        OAuthErrorCode.OAUTH_ID_JAG_INVALID => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_WRONG_TYPE => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_UNTRUSTED_ISSUER => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_WRONG_AUDIENCE => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_WRONG_RESOURCE => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_EXPIRED => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_REPLAYED => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_CLIENT_MISMATCH => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ID_JAG_SCOPE_NOT_GRANTED => new(400, "invalid_scope"),
        OAuthErrorCode.OAUTH_ENTERPRISE_ACCESS_REVOKED => new(400, "invalid_grant"),
        OAuthErrorCode.OAUTH_ENTERPRISE_IDP_UNAVAILABLE => new(503, "temporarily_unavailable", 5),
        _ => throw new ArgumentOutOfRangeException(nameof(code), code, null),
    };
}

/// <summary>
/// An OAuth failure with its guide code and a description safe to show (no secrets); a passing one
/// says when to come back (its own <paramref name="retryAfterSeconds"/>, as a rate limit knows it, or its code's).
/// </summary>
public sealed class OAuthException(OAuthErrorCode code, string description, int? retryAfterSeconds = null) : Exception(description)
{
    public OAuthErrorCode Code { get; } = code;

    public OAuthErrorInfo Info => OAuthErrors.Describe(Code);

    /// <summary>The Retry-After of the answer, in seconds; null when retrying would not help.</summary>
    public int? RetryAfterSeconds => retryAfterSeconds ?? Info.RetryAfterSeconds;
}
