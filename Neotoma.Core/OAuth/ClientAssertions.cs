using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>Who a token or revocation request comes from: the client it names, and whether it proved that with a client assertion or a client secret.</summary>
public sealed record ClientAuthentication(string? ClientId, bool ByAssertion, bool BySecret = false)
{
    /// <summary>The client proved who it is (a confidential client), rather than only naming itself.</summary>
    public bool Proven => ByAssertion || BySecret;
}

/// <summary>
/// Client authentication with <c>private_key_jwt</c> (RFC 7523 §2.2 and §3, OpenID Connect Core §9)
/// for clients whose metadata document declares it (ChatGPT's does): the request carries a JWT the
/// client signed with a key published at its <c>jwks_uri</c>. Accepted only when signed RS256, ES256 or
/// PS256 by a key of that set, with <c>iss</c> = <c>sub</c> = the client_id, <c>aud</c> naming our token
/// endpoint or our issuer, an <c>exp</c> at most <see cref="MaxLifetime"/> ahead, and a <c>jti</c> not
/// seen before on any instance (<see cref="JwtIdStore"/>). PKCE is checked besides, for every client: this
/// proves which client is asking, PKCE that it is the one that started the sign-in.
/// </summary>
public sealed class ClientAssertions(
    NeotomaDatabase database,
    ClientJwks jwks,
    OAuthServerOptions options,
    TimeProvider timeProvider,
    ILogger<ClientAssertions> logger)
{
    public const string JwtBearerType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    public const string PrivateKeyJwt = "private_key_jwt";

    public static readonly string[] AuthMethods = ["none", PrivateKeyJwt];

    public static readonly string[] SigningAlgorithms = [SecurityAlgorithms.RsaSha256, SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.RsaSsaPssSha256];

    /// <summary>An assertion is meant for one request, now: one that claims to live longer is refused, which also bounds how long its jti is kept.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(5);

    /// <summary>The JOSE <c>typ</c> values of a client assertion (RFC 7523 and its update); absent is accepted too.</summary>
    private static readonly string[] AssertionTypes = ["JWT", "client-authentication+jwt"];

    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    /// <summary>
    /// What a metadata document says about client authentication: <c>none</c> (or nothing), or
    /// <c>private_key_jwt</c> with an https <c>jwks_uri</c>. The reason it cannot be used, else null.
    /// Inline <c>jwks</c> is not taken: keys at a URL can be rotated without the document changing,
    /// and the document's 5 KB limit would not hold many.
    /// </summary>
    public static string? DeclaredMethod(JsonElement document, out string method, out string? jwksUri)
    {
        method = "none";
        jwksUri = null;
        if (!document.TryGetProperty("token_endpoint_auth_method", out var declared) || declared.ValueKind == JsonValueKind.String && declared.ValueEquals("none"))
        {
            return null;
        }

        if (!(declared.ValueKind == JsonValueKind.String && declared.ValueEquals(PrivateKeyJwt)))
        {
            return "token_endpoint_auth_method must be \"none\" (PKCE alone) or \"private_key_jwt\"";
        }

        if (!document.TryGetProperty("jwks_uri", out var uri) || uri.ValueKind != JsonValueKind.String)
        {
            return document.TryGetProperty("jwks", out var inline) && inline.ValueKind == JsonValueKind.Object
                ? "private_key_jwt needs a jwks_uri; keys inline in the document (jwks) are not supported"
                : "private_key_jwt needs a jwks_uri";
        }

        var text = uri.GetString()!;
        if (text.Length > RedirectUriPolicy.MaxLength || !Uri.TryCreate(text, UriKind.Absolute, out var parsed) || parsed.Scheme != Uri.UriSchemeHttps
            || text.Contains('#') || !string.IsNullOrEmpty(parsed.UserInfo))
        {
            return "jwks_uri must be an https URL without fragment or credentials";
        }

        (method, jwksUri) = (PrivateKeyJwt, text);
        return null;
    }

    /// <summary>
    /// Authenticates the client of a token or revocation request. Without an assertion: the client it
    /// names, unless that client declared private_key_jwt (it cannot fall back to PKCE alone). With one:
    /// the client the assertion proves, after every check; a client that declared none may not send one.
    /// </summary>
    public async Task<ClientAuthentication> AuthenticateAsync(Dictionary<string, string> p, CancellationToken cancellationToken)
    {
        var named = p.GetValueOrDefault("client_id") is { Length: > 0 } id ? id : null;
        var type = p.GetValueOrDefault("client_assertion_type") is { Length: > 0 } t ? t : null;
        var assertion = p.GetValueOrDefault("client_assertion") is { Length: > 0 } a ? a : null;
        if (type is null && assertion is null)
        {
            if (named is not null && await MethodOfAsync(named, cancellationToken) is { Method: PrivateKeyJwt })
            {
                throw Refuse(named, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_MISSING,
                    "This client declared token_endpoint_auth_method private_key_jwt: send client_assertion_type "
                    + JwtBearerType + " and a client_assertion signed with a key of its jwks_uri.");
            }

            return new ClientAuthentication(named, false);
        }

        if (type != JwtBearerType || assertion is null)
        {
            throw Refuse(named ?? "(unnamed)", OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID,
                Because($"client_assertion_type must be {JwtBearerType}, sent together with client_assertion"));
        }

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(assertion);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException or FormatException)
        {
            throw Refuse(named ?? "(unnamed)", OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID, Because("client_assertion is not a signed JWT (header.payload.signature)"));
        }

        var clientId = named ?? (jwt.Issuer is { Length: > 0 } issuer ? issuer : null)
            ?? throw Refuse("(unnamed)", OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID, Because("it names no iss, and the request no client_id"));
        var client = await MethodOfAsync(clientId, cancellationToken);
        if (client is not { Method: PrivateKeyJwt, JwksUri: { } jwksUri })
        {
            throw Refuse(clientId, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID, Because(client is null
                ? "no client with this client_id is known here (a metadata document client is read at authorization first)"
                : "this client declared token_endpoint_auth_method none, so it proves itself with PKCE and sends no client_assertion"));
        }

        if (ClaimsRefusal(jwt, clientId) is { } refusal)
        {
            throw Refuse(clientId, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID, Because(refusal));
        }

        await VerifySignatureAsync(assertion, jwt, clientId, jwksUri, cancellationToken);

        // Recorded only once it is proven the client's own, so nobody else can spend a client's jti.
        // Kept past exp by the clock skew, as long as the assertion could still pass the checks above.
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(jwt.GetPayloadValue<long>(JwtRegisteredClaimNames.Exp)) + ClockSkew;
        if (!await JwtIdStore.TryRecordAsync(database, clientId, jwt.Id, expiresAt, cancellationToken))
        {
            throw Refuse(clientId, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_REPLAYED,
                "The client assertion was refused: its jti was used before; sign a new assertion (a new jti) for every request.");
        }

        return new ClientAuthentication(clientId, true);
    }

    /// <summary>The claims, checked before the signature so each refusal says which one is wrong (they are the sender's own; nothing leaks).</summary>
    private string? ClaimsRefusal(JsonWebToken jwt, string clientId)
    {
        if (!SigningAlgorithms.Contains(jwt.Alg, StringComparer.Ordinal))
        {
            return $"alg {DisplayText.Printable(jwt.Alg ?? "(none)")} is not accepted; sign with {string.Join(", ", SigningAlgorithms)}";
        }

        if (jwt.Issuer != clientId || jwt.Subject != clientId)
        {
            return "iss and sub must both be the client_id";
        }

        // One audience, ours. An assertion that also names another server could be replayed here by that
        // server, and one a client was led to address to our token endpoint by a server posing as us could be
        // too (the "audience injection" the RFC 7523 update closes): the issuer is what the update asks for,
        // the token endpoint what clients have long sent, and neither is accepted beside anything else.
        if (jwt.Audiences.ToList() is not [var audience] || (audience != options.Issuer && audience != options.TokenEndpoint))
        {
            return $"aud must be the token endpoint {options.TokenEndpoint} or the issuer {options.Issuer}, alone";
        }

        // A JWT made for another purpose (an ID-JAG, an ID token) is not a client assertion, even when signed by the client's key.
        if (jwt.Typ is { Length: > 0 } typ && !AssertionTypes.Contains(typ, StringComparer.OrdinalIgnoreCase))
        {
            return $"typ {DisplayText.Printable(typ)} is not a client assertion's (JWT or client-authentication+jwt)";
        }

        // Compared as seconds: a time past the year 9999 cannot become a DateTimeOffset, and is refused as too far ahead.
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)ClockSkew.TotalSeconds;
        if (!jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Exp, out var exp))
        {
            return "it has no exp";
        }

        if (exp <= now - skew)
        {
            return "it expired (exp is in the past)";
        }

        if (exp > now + (long)MaxLifetime.TotalSeconds + skew)
        {
            return $"exp is more than {MaxLifetime.TotalMinutes:0} minutes ahead; an assertion is for one request, now";
        }

        if (jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Nbf, out var nbf) && nbf > now + skew)
        {
            return "it is not valid yet (nbf is in the future)";
        }

        return string.IsNullOrEmpty(jwt.Id) ? "it has no jti" : null;
    }

    /// <summary>
    /// The signature, by a key of the client's set, through the JWT library (which checks the claims
    /// again: a second opinion, not the one that words the refusal). A key id the cached set lacks
    /// means the client rotated its keys: the set is read again once (rate-limited), then refused.
    /// </summary>
    private async Task VerifySignatureAsync(string assertion, JsonWebToken jwt, string clientId, string jwksUri, CancellationToken cancellationToken)
    {
        var keys = await jwks.GetAsync(jwksUri, cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            var known = jwt.Kid is not { } kid || keys.Any(key => key.KeyId == kid);
            var result = known ? await Validate(assertion, clientId, keys) : null;
            if (result is { IsValid: true })
            {
                return;
            }

            var keyMissing = !known || result?.Exception is SecurityTokenSignatureKeyNotFoundException;
            if (keyMissing && attempt == 0 && await jwks.RefetchAsync(jwksUri, cancellationToken) is { } fresh)
            {
                keys = fresh;
                continue;
            }

            throw keyMissing
                ? Refuse(clientId, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_KEY_UNKNOWN,
                    $"The client assertion was refused: it is signed with a key{(jwt.Kid is { } id ? $" (kid {DisplayText.Printable(id)})" : "")} that is not in the client's key set at {DisplayText.Printable(jwksUri)}.")
                : Refuse(clientId, OAuthErrorCode.OAUTH_CLIENT_ASSERTION_INVALID,
                    Because($"it did not validate ({result?.Exception?.GetType().Name ?? "invalid"}): the signature does not match the client's key"));
        }
    }

    private Task<TokenValidationResult> Validate(string assertion, string clientId, IReadOnlyList<SecurityKey> keys) =>
        new JsonWebTokenHandler().ValidateTokenAsync(assertion, new TokenValidationParameters
        {
            ValidIssuer = clientId,
            ValidAudiences = [options.TokenEndpoint, options.Issuer],
            IssuerSigningKeys = keys,
            ValidAlgorithms = SigningAlgorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            LifetimeValidator = WithinSkew(timeProvider, ClockSkew),
            TryAllIssuerSigningKeys = true,
        });

    /// <summary>A JWT's nbf and exp against <paramref name="timeProvider"/>'s clock (not the machine's, so tests can move it), <paramref name="skew"/> either way.</summary>
    internal static LifetimeValidator WithinSkew(TimeProvider timeProvider, TimeSpan skew) => (notBefore, expires, _, _) =>
    {
        var now = timeProvider.GetUtcNow().UtcDateTime;
        return (notBefore is null || notBefore <= now + skew) && expires is not null && expires > now - skew;
    };

    /// <summary>How a client authenticates, as last stored: its registration, or the last fetch of its document.</summary>
    private Task<StoredAuthentication?> MethodOfAsync(string clientId, CancellationToken cancellationToken) =>
        ClientStore.AuthenticationOfAsync(database, clientId, cancellationToken);

    private static string Because(string reason) => $"The client assertion was refused: {reason}.";

    private OAuthException Refuse(string clientId, OAuthErrorCode code, string description)
    {
        OAuthLog.ClientAssertionRefused(logger, DisplayText.Printable(clientId), code, description);
        return new OAuthException(code, description);
    }
}
