using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Enterprise-managed authorization (MCP ext-auth; draft-ietf-oauth-identity-assertion-authz-grant §4.4):
/// the JWT bearer grant (RFC 7523 §2.1) with an Identity Assertion JWT Authorization Grant (ID-JAG) that an
/// organization's IdP issued by token exchange, where its policy decided. Accepted from a client that proved
/// who it is (client secret or private_key_jwt), for an ID-JAG typed <c>oauth-id-jag+jwt</c>, from an issuer
/// in ENTERPRISE_IDPS that may grant this client (and, for Entra ID, from an allowed tenant), signed with an
/// allowed algorithm by a key of the IdP, with <c>aud</c> = our issuer, <c>resource</c> (when present) = our
/// /mcp, <c>client_id</c> = the authenticated client, short-lived, its <c>jti</c> unused on any instance
/// (<see cref="JwtIdStore"/>, issuer = the IdP). The scopes are what the request, the ID-JAG and the IdP's
/// most have in common. The answer is an access token alone: the client asks again with a fresh ID-JAG.
/// </summary>
public sealed class IdJagGrant(
    NeotomaDatabase database,
    OAuthServerOptions options,
    EnterpriseIdpOptions idps,
    EnterpriseIdpKeys keys,
    UpstreamOptions upstream,
    Identities identities,
    TokenIssuer issuer,
    RateLimiter rateLimiter,
    AuditLog audit,
    TimeProvider timeProvider,
    ILogger<IdJagGrant> logger)
{
    public const string GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    public const string Profile = "urn:ietf:params:oauth:grant-profile:id-jag";

    public const string TokenType = "oauth-id-jag+jwt";

    /// <summary>An ID-JAG is minted for one token request; one that claims a longer life, or was issued longer ago, is refused.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(10);

    public static readonly TimeSpan ClockSkew = TimeSpan.FromSeconds(30);

    public async Task<TokenEndpointResponse> ExchangeAsync(
        Dictionary<string, string> p, ClientAuthentication client, string? clientIp, CancellationToken cancellationToken)
    {
        var clientId = client.ClientId ?? "(unnamed)";
        try
        {
            if (!client.Proven || client.ClientId is null)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_ENTERPRISE_CLIENT_REQUIRED,
                    "The JWT bearer grant is for confidential clients: authenticate with client_secret_basic, client_secret_post or private_key_jwt "
                    + "(a client registered with ./neotoma register-enterprise-client, or a metadata document client with private_key_jwt).");
            }

            await rateLimiter.HitAsync(RateLimitedEndpoint.JwtBearer, clientId, cancellationToken);
            var assertion = OAuthParameters.Required(p, "assertion");
            return await GrantAsync(assertion, clientId, p.GetValueOrDefault("scope"), clientIp, cancellationToken);
        }
        catch (OAuthException e) when (e.Code != OAuthErrorCode.OAUTH_DATABASE_UNAVAILABLE)
        {
            OAuthLog.IdJagRefused(logger, DisplayText.Printable(clientId), e.Code, e.Message);
            await audit.WriteAsync(new AuditEntry(AuditEvents.EnterpriseAccessRefused, ClientId: client.ClientId, ClientIp: clientIp, Success: false,
                ErrorCode: e.Code), cancellationToken);
            throw;
        }
    }

    private async Task<TokenEndpointResponse> GrantAsync(string assertion, string clientId, string? requestedScope, string? clientIp, CancellationToken cancellationToken)
    {
        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(assertion);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenException or FormatException)
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_INVALID, "the assertion is not a signed JWT (header.payload.signature)");
        }

        if (!string.Equals(jwt.Typ, TokenType, StringComparison.OrdinalIgnoreCase))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_WRONG_TYPE, $"its header typ is '{DisplayText.Printable(jwt.Typ ?? "(none)")}', not {TokenType}");
        }

        var idp = idps.Find(jwt.Issuer ?? "")
            ?? throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_UNTRUSTED_ISSUER,
                $"its issuer '{DisplayText.Printable(jwt.Issuer ?? "(none)")}' is not a trusted enterprise IdP here (ENTERPRISE_IDPS)");
        if (!idp.Clients.Contains(clientId, StringComparer.Ordinal))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_UNTRUSTED_ISSUER, $"the IdP {idp.Issuer} is not trusted to grant access to this client (its clients in ENTERPRISE_IDPS)");
        }

        var tenant = jwt.TryGetPayloadValue<string>("tid", out var tid) ? tid : null;
        if (idp.Tenants.Count > 0 && (tenant is null || !idp.Tenants.Contains(tenant, StringComparer.OrdinalIgnoreCase)))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_UNTRUSTED_ISSUER, $"its tenant (tid) '{DisplayText.Printable(tenant ?? "(none)")}' is not among the IdP's allowed tenants");
        }

        CheckClaims(jwt, clientId);
        await VerifySignatureAsync(assertion, jwt, idp, cancellationToken);
        var scope = GrantedScope(jwt, idp, requestedScope);

        // Recorded only once the IdP's signature is proven, so nobody else can spend an IdP's jti.
        var expiresAt = DateTimeOffset.FromUnixTimeSeconds(jwt.GetPayloadValue<long>(JwtRegisteredClaimNames.Exp)) + ClockSkew;
        if (!await JwtIdStore.TryRecordAsync(database, idp.Issuer, jwt.Id, expiresAt, cancellationToken))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_REPLAYED, "its jti was used before; ask the IdP for a fresh ID-JAG for every token request");
        }

        var userId = await identities.OfEnterpriseAsync(idp.Issuer, jwt.Subject, tenant,
            jwt.TryGetPayloadValue<string>("oid", out var oid) ? oid : null, upstream.Issuer, cancellationToken);
        if (await EnterpriseBlockStore.IsBlockedAsync(database, userId, clientId, cancellationToken))
        {
            throw BlockedByThePerson();
        }

        var clientName = await ClientStore.NameOfAsync(database, clientId, cancellationToken);
        string connectionId = "";
        var tokens = await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            // One connection per person and client, reused by every ID-JAG: grants for the same pair queue here.
            await GrantStore.QueueRedemptionAsync(transaction, userId, clientId, cancellationToken);
            var now = timeProvider.GetUtcNow();
            var existing = await GrantStore.LockLiveOfClientAsync(transaction, userId, clientId, cancellationToken);
            // Again under the locks: the person's Revoke may have committed since the check above (it locks the
            // connection this waited for, then blocks), and a token must not come out of that gap.
            if (await EnterpriseBlockStore.IsBlockedAsync(transaction, userId, clientId, cancellationToken))
            {
                throw BlockedByThePerson();
            }

            if (existing is not null)
            {
                connectionId = existing;
                await GrantStore.RegrantAsync(transaction, connectionId, scope, idp.Issuer, now, cancellationToken);
            }
            else
            {
                connectionId = "conn_" + OpaqueToken.New(16);
                await GrantStore.CreateAsync(transaction, new NewConnection(connectionId, userId, now, clientId, ClientName: clientName, Scope: scope,
                    IdpIssuer: idp.Issuer), cancellationToken);
            }

            return await issuer.IssueAccessOnlyAsync(transaction, connectionId, clientId, userId, scope, idp.AccessTokenLifetime, cancellationToken);
        }, cancellationToken);

        OAuthLog.EnterpriseGranted(logger, DisplayText.Printable(clientId), userId, idp.Issuer, scope, connectionId);
        await audit.WriteAsync(new AuditEntry(AuditEvents.EnterpriseAccessGranted, connectionId, userId, clientId, clientIp), cancellationToken);
        return tokens;
    }

    /// <summary>The claims, checked before the signature so each refusal names its rule (they are the presenter's own; nothing leaks).</summary>
    private void CheckClaims(JsonWebToken jwt, string clientId)
    {
        if (!ClientAssertions.SigningAlgorithms.Contains(jwt.Alg, StringComparer.Ordinal))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_INVALID,
                $"alg {DisplayText.Printable(jwt.Alg ?? "(none)")} is not accepted; {string.Join(", ", ClientAssertions.SigningAlgorithms)} are");
        }

        // One audience, ours: an ID-JAG that also names another server could be replayed here by it.
        if (jwt.Audiences.ToList() is not [var audience] || !Identities.SameIssuer(audience, options.Issuer))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_WRONG_AUDIENCE, $"its aud must be this authorization server's issuer, {options.Issuer}");
        }

        if (jwt.TryGetPayloadValue<string>("resource", out var resource) && !options.IsOurResource(resource))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_WRONG_RESOURCE,
                $"its resource '{DisplayText.Printable(resource)}' is another server's; this one is {options.Resource}");
        }

        if (!jwt.TryGetPayloadValue<string>("client_id", out var granted) || granted != clientId)
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_CLIENT_MISMATCH,
                $"it was issued to client '{DisplayText.Printable(granted ?? "(none)")}', not to the client that authenticated this request");
        }

        // Compared as seconds: a time past the year 9999 cannot become a DateTimeOffset, and is refused, not a 500.
        var now = timeProvider.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)ClockSkew.TotalSeconds;
        var lifetime = (long)MaxLifetime.TotalSeconds;
        if (!jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Exp, out var exp) || !jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Iat, out var iat))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_INVALID, "it has no exp or no iat");
        }

        if (exp <= now - skew)
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_EXPIRED, "it expired (exp is in the past); ask the IdP for a fresh one");
        }

        if (iat > now + skew || iat < now - lifetime - skew || exp - iat > lifetime + skew)
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_EXPIRED,
                $"iat is in the future, or it was issued or lives more than {MaxLifetime.TotalMinutes:0} minutes; an ID-JAG is for one token request, now");
        }

        if (string.IsNullOrEmpty(jwt.Id) || string.IsNullOrEmpty(jwt.Subject))
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_INVALID, "it has no jti or no sub");
        }
    }

    /// <summary>The signature by a key of the IdP; a key id Neotoma has not seen reads the IdP's keys again once (rate-limited).</summary>
    private async Task VerifySignatureAsync(string assertion, JsonWebToken jwt, EnterpriseIdp idp, CancellationToken cancellationToken)
    {
        var signingKeys = await keys.GetAsync(idp.Issuer, cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            var result = await new JsonWebTokenHandler().ValidateTokenAsync(assertion, new TokenValidationParameters
            {
                ValidIssuer = idp.Issuer,
                ValidateAudience = false, // checked above, against our issuer with or without a trailing slash
                IssuerSigningKeys = signingKeys,
                ValidAlgorithms = ClientAssertions.SigningAlgorithms,
                ValidTypes = [TokenType],
                RequireSignedTokens = true,
                RequireExpirationTime = true,
                LifetimeValidator = ClientAssertions.WithinSkew(timeProvider, ClockSkew),
                TryAllIssuerSigningKeys = true,
            });
            if (result.IsValid)
            {
                return;
            }

            if (result.Exception is SecurityTokenSignatureKeyNotFoundException && attempt == 0
                && await keys.RefetchAsync(idp.Issuer, cancellationToken) is { } fresh)
            {
                signingKeys = fresh;
                continue;
            }

            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_INVALID,
                $"it did not validate ({result.Exception?.GetType().Name ?? "invalid"}): the signature is not by a key of {idp.Issuer}");
        }
    }

    /// <summary>The request's scopes (all the IdP may grant, when it names none) within the ID-JAG's and the IdP's most.</summary>
    private static string GrantedScope(JsonWebToken jwt, EnterpriseIdp idp, string? requested)
    {
        var inGrant = NeotomaScopes.Split(jwt.TryGetPayloadValue<string>("scope", out var scope) ? scope : null)
            .Where(s => idp.Scopes.Contains(s, StringComparer.Ordinal)).ToHashSet(StringComparer.Ordinal);
        var asked = requested is { Length: > 0 } ? NeotomaScopes.Split(requested) : [.. inGrant];
        var granted = asked.Where(inGrant.Contains).Distinct().ToList();
        if (granted.Count == 0)
        {
            throw Refusal(OAuthErrorCode.OAUTH_ID_JAG_SCOPE_NOT_GRANTED,
                $"nothing asked for is granted: the ID-JAG grants '{DisplayText.Printable(scope ?? "")}', this IdP at most '{string.Join(" ", idp.Scopes)}'"
                + (requested is { Length: > 0 } ? $", the request asked '{DisplayText.Printable(requested)}'" : ""));
        }

        return string.Join(" ", granted.Order(StringComparer.Ordinal));
    }

    private static OAuthException Refusal(OAuthErrorCode code, string reason) => new(code, $"The ID-JAG was refused: {reason}.");

    private static OAuthException BlockedByThePerson() => new(OAuthErrorCode.OAUTH_ENTERPRISE_ACCESS_REVOKED,
        "The person revoked this client's access on Neotoma's connections page; it is refused until they allow it again there.");
}
