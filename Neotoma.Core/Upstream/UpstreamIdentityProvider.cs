using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Upstream;

public sealed record UpstreamTokens(string AccessToken, string? RefreshToken, string? IdToken, DateTimeOffset AccessTokenExpiresAt);

/// <summary>
/// Who signed in: the token's <see cref="Issuer"/> and <see cref="Subject"/>, and for Entra ID its tenant
/// (<c>tid</c>) and object id (<c>oid</c>), which name the person the same way to every application.
/// </summary>
public sealed record UpstreamIdentity(string Subject, string? Email, string? Name, string Issuer = "", string? TenantId = null, string? ObjectId = null);

public sealed record UpstreamClient(string ClientId, string? ClientSecret);

/// <summary>What became of asking the provider to revoke a token.</summary>
public enum UpstreamRevocationResult
{
    /// <summary>The provider answered 2xx (RFC 7009 answers 200 for tokens it no longer knows, too).</summary>
    Revoked,

    /// <summary>The provider's discovery document names no revocation endpoint: the token lives until it expires there.</summary>
    NotOffered,

    /// <summary>The provider refused the request (4xx): asking again would not change its answer.</summary>
    Refused,

    /// <summary>The provider did not answer, answered 5xx, 408 or 429, or its discovery document could not be read: try again later.</summary>
    Unavailable,
}

/// <summary>
/// The OpenID provider users sign in with. Neotoma is its client: it sends users there with
/// its own PKCE verifier and nonce, exchanges codes, validates ID tokens against the
/// provider's JWKS, and refreshes upstream tokens. Nothing from here reaches MCP clients.
/// </summary>
public sealed class UpstreamIdentityProvider
{
    internal const string HttpClientName = "neotoma-upstream";
    private const long RegistrationLockKey = 0x4E454F5F444352; // "NEO_DCR"

    private readonly UpstreamOptions options;
    private readonly IHttpClientFactory httpClients;
    private readonly NeotomaDatabase database;
    private readonly TokenCipher cipher;
    private readonly TimeProvider timeProvider;
    private readonly ILogger<UpstreamIdentityProvider> logger;
    private readonly ConfigurationManager<OpenIdConnectConfiguration> configuration;
    private readonly SemaphoreSlim clientLock = new(1, 1);
    private UpstreamClient? client;
    private volatile IReadOnlyList<SecurityKey>? rotatedKeys;

    public UpstreamIdentityProvider(
        UpstreamOptions options,
        IHttpClientFactory httpClients,
        NeotomaDatabase database,
        TokenCipher cipher,
        TimeProvider timeProvider,
        ILogger<UpstreamIdentityProvider> logger)
    {
        this.options = options;
        this.httpClients = httpClients;
        this.database = database;
        this.cipher = cipher;
        this.timeProvider = timeProvider;
        this.logger = logger;
        var metadataAddress = options.Issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        configuration = new ConfigurationManager<OpenIdConnectConfiguration>(
            metadataAddress,
            new OpenIdConnectConfigurationRetriever(),
            new HttpDocumentRetriever(httpClients.CreateClient(HttpClientName)) { RequireHttps = options.RequireHttps });
    }

    public UpstreamOptions Options => options;

    public async Task<OpenIdConnectConfiguration> GetConfigurationAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await configuration.GetConfigurationAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException)
        {
            UpstreamLog.UpstreamFailure(logger, "read the discovery document", e.InnerException?.Message ?? e.Message);
            throw new OAuthException(OAuthErrorCode.OAUTH_UPSTREAM_ERROR,
                $"The sign-in provider's discovery document ({options.Issuer}/.well-known/openid-configuration) could not be read. Check OIDC_ISSUER and that the provider is reachable.");
        }
    }

    /// <summary>The configured client, or the one registered dynamically once per deployment and kept in PostgreSQL.</summary>
    public async Task<UpstreamClient> GetClientAsync(CancellationToken cancellationToken)
    {
        if (options.ClientId is { Length: > 0 } configured)
        {
            return new UpstreamClient(configured, options.ClientSecret);
        }

        if (client is not null)
        {
            return client;
        }

        await clientLock.WaitAsync(cancellationToken);
        try
        {
            return client ??= await LoadOrRegisterClientAsync(cancellationToken);
        }
        finally
        {
            clientLock.Release();
        }
    }

    public async Task<Uri> BuildAuthorizeUrlAsync(string state, string codeVerifier, string nonce, CancellationToken cancellationToken)
    {
        var metadata = await GetConfigurationAsync(cancellationToken);
        var upstreamClient = await GetClientAsync(cancellationToken);
        var query = new Dictionary<string, string?>
        {
            ["response_type"] = "code",
            ["client_id"] = upstreamClient.ClientId,
            ["redirect_uri"] = options.RedirectUri,
            ["scope"] = options.Scopes,
            ["state"] = state,
            ["nonce"] = nonce,
            ["code_challenge"] = Pkce.Challenge(codeVerifier),
            ["code_challenge_method"] = "S256",
        };
        if (options.Preset == UpstreamPreset.Oidc && options.Scopes.Split(' ').Contains("offline_access"))
        {
            // Generic providers (oidc-provider among them) grant offline_access only with consent.
            query["prompt"] = "consent";
        }

        return new Uri(Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString(metadata.AuthorizationEndpoint, query));
    }

    public Task<UpstreamTokens> ExchangeCodeAsync(string code, string codeVerifier, CancellationToken cancellationToken) =>
        RequestTokensAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["redirect_uri"] = options.RedirectUri,
            ["code_verifier"] = codeVerifier,
        }, OAuthErrorCode.OAUTH_TOKEN_EXCHANGE_FAILED, "exchange code", cancellationToken);

    public Task<UpstreamTokens> RefreshAsync(string refreshToken, CancellationToken cancellationToken) =>
        RequestTokensAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
        }, OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED, "refresh token", cancellationToken);

    /// <summary>
    /// Asks the provider to revoke a token (RFC 7009) when its discovery document names a revocation
    /// endpoint. Never throws for the provider's sake: what happened is the answer, and
    /// <see cref="UpstreamRevocationResult.Unavailable"/> is the only one worth trying again.
    /// </summary>
    public async Task<UpstreamRevocationResult> RevokeAsync(string token, string tokenTypeHint, CancellationToken cancellationToken)
    {
        try
        {
            var metadata = await GetConfigurationAsync(cancellationToken);
            if (metadata.RevocationEndpoint is not { Length: > 0 } url)
            {
                return UpstreamRevocationResult.NotOffered;
            }

            var upstreamClient = await GetClientAsync(cancellationToken);
            var form = new Dictionary<string, string>
            {
                ["token"] = token,
                ["token_type_hint"] = tokenTypeHint,
                ["client_id"] = upstreamClient.ClientId,
            };
            if (upstreamClient.ClientSecret is { Length: > 0 } secret)
            {
                form["client_secret"] = secret;
            }

            using var response = await httpClients.CreateClient(HttpClientName).PostAsync(url, new FormUrlEncodedContent(form), cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return UpstreamRevocationResult.Revoked;
            }

            UpstreamLog.UpstreamFailure(logger, "revoke a token", $"HTTP {(int)response.StatusCode}");
            var status = (int)response.StatusCode;
            // 401: the provider does not know Neotoma's client right now (a secret being rotated): worth asking again.
            return status is 401 or 408 or 429 || status >= 500 ? UpstreamRevocationResult.Unavailable : UpstreamRevocationResult.Refused;
        }
        catch (Exception e) when (e is HttpRequestException or OAuthException or InvalidOperationException or UriFormatException
            || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            UpstreamLog.UpstreamFailure(logger, "revoke a token", e.Message);
            return UpstreamRevocationResult.Unavailable;
        }
    }

    /// <summary>Validates the ID token: signature (provider JWKS), issuer, audience (our client id), expiry and nonce.</summary>
    public async Task<UpstreamIdentity> ValidateIdTokenAsync(string? idToken, string expectedNonce, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(idToken))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ID_TOKEN_INVALID,
                "The sign-in provider returned no ID token; check that the 'openid' scope is in OIDC_SCOPES.");
        }

        var upstreamClient = await GetClientAsync(cancellationToken);
        var handler = new JsonWebTokenHandler();
        for (var attempt = 0; ; attempt++)
        {
            var metadata = await GetConfigurationAsync(cancellationToken);
            var result = await handler.ValidateTokenAsync(idToken, new TokenValidationParameters
            {
                ValidIssuer = metadata.Issuer,
                ValidAudience = upstreamClient.ClientId,
                IssuerSigningKeys = rotatedKeys is { } fresh ? metadata.SigningKeys.Concat(fresh) : metadata.SigningKeys,
                ValidateLifetime = true,
                ClockSkew = TimeSpan.FromMinutes(2),
                LifetimeValidator = (notBefore, expires, _, _) =>
                {
                    var now = timeProvider.GetUtcNow().UtcDateTime;
                    return (notBefore is null || notBefore <= now.AddMinutes(2)) && expires is not null && expires > now.AddMinutes(-2);
                },
            });
            if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException && attempt == 0)
            {
                // The provider signs with a key we have not seen: it rotated its keys (OIDC Core §10.1.1
                // allows that at any time). The configuration manager refreshes in the background and at
                // most every few minutes, so read the JWKS now, ourselves, and retry once with it.
                rotatedKeys = await FetchSigningKeysAsync(metadata.JwksUri, cancellationToken);
                configuration.RequestRefresh();
                continue;
            }

            if (!result.IsValid)
            {
                UpstreamLog.UpstreamFailure(logger, "validate the ID token", result.Exception?.GetType().Name ?? "invalid");
                throw new OAuthException(OAuthErrorCode.OAUTH_ID_TOKEN_INVALID,
                    "The sign-in provider's ID token did not validate (signature, issuer, audience or expiry).");
            }

            var claims = result.Claims;
            if (!claims.TryGetValue("nonce", out var nonce) || nonce as string != expectedNonce)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_ID_TOKEN_INVALID, "The ID token's nonce does not match this sign-in.");
            }

            if (!claims.TryGetValue("sub", out var subject) || subject is not string { Length: > 0 } sub)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_ID_TOKEN_INVALID, "The ID token names no subject (sub).");
            }

            return new UpstreamIdentity(sub, claims.TryGetValue("email", out var email) ? email as string : null,
                claims.TryGetValue("name", out var name) ? name as string : null, metadata.Issuer,
                claims.TryGetValue("tid", out var tid) ? tid as string : null, claims.TryGetValue("oid", out var oid) ? oid as string : null);
        }
    }

    /// <summary>The provider's current signing keys, read directly after an unknown key id; kept until the next rotation.</summary>
    private async Task<IReadOnlyList<SecurityKey>> FetchSigningKeysAsync(string jwksUri, CancellationToken cancellationToken)
    {
        try
        {
            var json = await new HttpDocumentRetriever(httpClients.CreateClient(HttpClientName)) { RequireHttps = options.RequireHttps }
                .GetDocumentAsync(jwksUri, cancellationToken);
            return new JsonWebKeySet(json).GetSigningKeys().ToArray();
        }
        catch (Exception e) when (e is IOException or HttpRequestException or ArgumentException or TaskCanceledException)
        {
            UpstreamLog.UpstreamFailure(logger, "read the signing keys", e.Message);
            throw Unavailable();
        }
    }

    private async Task<UpstreamTokens> RequestTokensAsync(
        Dictionary<string, string> form, OAuthErrorCode failure, string action, CancellationToken cancellationToken)
    {
        var metadata = await GetConfigurationAsync(cancellationToken);
        var upstreamClient = await GetClientAsync(cancellationToken);
        form["client_id"] = upstreamClient.ClientId;
        if (upstreamClient.ClientSecret is { Length: > 0 } secret)
        {
            form["client_secret"] = secret;
        }

        HttpResponseMessage response;
        try
        {
            response = await httpClients.CreateClient(HttpClientName)
                .PostAsync(metadata.TokenEndpoint, new FormUrlEncodedContent(form), cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Refused, reset or no answer within OIDC_TIMEOUT_SECONDS: a passing outage, never a reason to sign anyone out.
            UpstreamLog.FailedTo(logger, action, e is TaskCanceledException ? "no answer in time" : e.Message);
            throw Unavailable();
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            TokenResponse? tokens = null;
            try
            {
                tokens = JsonSerializer.Deserialize<TokenResponse>(body, TokenResponseJson);
            }
            catch (JsonException)
            {
            }

            var status = (int)response.StatusCode;
            if (status is >= 500 or 429 || tokens?.Error is "temporarily_unavailable" or "server_error")
            {
                UpstreamLog.FailedTo(logger, action, tokens?.Error is { } busy ? $"{busy} (HTTP {status})" : $"HTTP {status}");
                throw Unavailable();
            }

            if (!response.IsSuccessStatusCode || tokens?.Error is not null)
            {
                // The provider's error and description name the problem without holding secrets.
                var reason = tokens?.Error is { } error ? $"{error}: {tokens.ErrorDescription}" : $"HTTP {status}";
                UpstreamLog.FailedTo(logger, action, reason);
                if (tokens?.Error is "invalid_grant")
                {
                    // The one terminal answer: this code or refresh token is dead at the provider.
                    throw new OAuthException(failure, failure == OAuthErrorCode.OAUTH_TOKEN_REFRESH_FAILED
                        ? "The sign-in provider no longer accepts this connection's sign-in (it expired or was revoked there); sign in again."
                        : "The sign-in provider refused the authorization code; start the sign-in again.");
                }

                throw new OAuthException(OAuthErrorCode.OAUTH_UPSTREAM_ERROR,
                    $"The sign-in provider refused Neotoma's request ({DisplayText.Printable(reason)}). Check OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and the provider's client settings.");
            }

            if (tokens?.AccessToken is null)
            {
                UpstreamLog.FailedTo(logger, action, "the token response could not be read");
                throw new OAuthException(OAuthErrorCode.OAUTH_UPSTREAM_ERROR,
                    "The sign-in provider's token response could not be read (it is not the JSON of RFC 6749 §5.1, or has no access_token).");
            }

            var expiresIn = tokens.ExpiresIn is > 0 ? tokens.ExpiresIn.Value : 3600;
            return new UpstreamTokens(tokens.AccessToken, tokens.RefreshToken, tokens.IdToken,
                timeProvider.GetUtcNow().AddSeconds(expiresIn));
        }
    }

    private static OAuthException Unavailable() =>
        new(OAuthErrorCode.OAUTH_UPSTREAM_UNAVAILABLE,
            "The sign-in provider is not answering right now; nothing was changed. Try again in a moment.");

    /// <summary>Some providers send numbers as strings ("expires_in": "3600"); RFC 6749 §5.1 means the number.</summary>
    private static readonly JsonSerializerOptions TokenResponseJson = new() { NumberHandling = JsonNumberHandling.AllowReadingFromString };

    private async Task<UpstreamClient> LoadOrRegisterClientAsync(CancellationToken cancellationToken)
    {
        // One registration per deployment: instances that start together wait for the first.
        return await UpstreamClientStore.UnderRegistrationLockAsync(database, RegistrationLockKey, async transaction =>
        {
            if (await UpstreamClientStore.FindAsync(transaction, options.Issuer, cancellationToken) is var (clientId, storedSecret))
            {
                return new UpstreamClient(clientId, storedSecret is null ? null : cipher.TryDecrypt(storedSecret));
            }

            var registered = await RegisterAsync(cancellationToken);
            await UpstreamClientStore.SaveAsync(transaction, options.Issuer, registered.ClientId,
                registered.ClientSecret is null ? null : cipher.Encrypt(registered.ClientSecret), cancellationToken);
            UpstreamLog.DynamicallyRegistered(logger, options.Issuer, registered.ClientId);
            return registered;
        }, cancellationToken);
    }

    private async Task<UpstreamClient> RegisterAsync(CancellationToken cancellationToken)
    {
        var metadata = await GetConfigurationAsync(cancellationToken);
        if (string.IsNullOrEmpty(metadata.RegistrationEndpoint))
        {
            throw RegistrationFailed("the provider does not advertise a registration_endpoint");
        }

        try
        {
            using var response = await httpClients.CreateClient(HttpClientName).PostAsJsonAsync(metadata.RegistrationEndpoint, new
            {
                client_name = "Neotoma",
                redirect_uris = new[] { options.RedirectUri },
                grant_types = new[] { "authorization_code", "refresh_token" },
                response_types = new[] { "code" },
                token_endpoint_auth_method = "client_secret_post",
            }, cancellationToken);
            var body = await response.Content.ReadFromJsonAsync<RegistrationResponse>(cancellationToken);
            if (!response.IsSuccessStatusCode || body?.ClientId is null)
            {
                throw RegistrationFailed($"HTTP {(int)response.StatusCode} {body?.Error}".TrimEnd());
            }

            return new UpstreamClient(body.ClientId, body.ClientSecret);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException)
        {
            throw RegistrationFailed(e.Message);
        }
    }

    private OAuthException RegistrationFailed(string reason)
    {
        UpstreamLog.FailedTo(logger, "register OAuth client", reason);
        return new OAuthException(OAuthErrorCode.OAUTH_CLIENT_REGISTRATION_FAILED,
            "Neotoma could not register itself at the sign-in provider. Enable dynamic client registration there " +
            "(Supabase: Authentication > OAuth Server > Allow Dynamic OAuth Apps) or set OIDC_CLIENT_ID " +
            "(SUPABASE_OAUTH_CLIENT_ID) and OIDC_CLIENT_SECRET, then restart.");
    }

    private sealed record TokenResponse(
        [property: JsonPropertyName("access_token")] string? AccessToken,
        [property: JsonPropertyName("refresh_token")] string? RefreshToken,
        [property: JsonPropertyName("id_token")] string? IdToken,
        [property: JsonPropertyName("expires_in")] int? ExpiresIn,
        [property: JsonPropertyName("error")] string? Error,
        [property: JsonPropertyName("error_description")] string? ErrorDescription);

    private sealed record RegistrationResponse(
        [property: JsonPropertyName("client_id")] string? ClientId,
        [property: JsonPropertyName("client_secret")] string? ClientSecret,
        [property: JsonPropertyName("error")] string? Error);
}
