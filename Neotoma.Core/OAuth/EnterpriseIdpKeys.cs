using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;
using Neotoma.Core.Security;

namespace Neotoma.Core.OAuth;

/// <summary>
/// The signing keys of the trusted enterprise IdPs, read from each one's OpenID discovery document and its
/// <c>jwks_uri</c> (the operator named these issuers, so they are read like the upstream provider: https, or
/// http on loopback for the dev provider). Kept per instance for an hour; a key id the kept set lacks means
/// the IdP rotated its keys, so the set is read again at once, out of turn at most every 30 s per IdP, so
/// forged key ids cannot make Neotoma hammer the IdP.
/// </summary>
public sealed class EnterpriseIdpKeys(IHttpClientFactory httpClients, TimeProvider timeProvider, ILogger<EnterpriseIdpKeys> logger)
{
    public const string HttpClientName = "neotoma-enterprise-idp";

    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);
    private static readonly TimeSpan ForcedRefetchInterval = TimeSpan.FromSeconds(30);

    private sealed record Entry(IReadOnlyList<SecurityKey> Keys, DateTimeOffset FetchedAt);

    private readonly ConcurrentDictionary<string, Entry> cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> forcedAt = new(StringComparer.Ordinal);

    /// <summary>The IdP's keys: kept while fresh, else read.</summary>
    public async Task<IReadOnlyList<SecurityKey>> GetAsync(string issuer, CancellationToken cancellationToken) =>
        cache.TryGetValue(issuer, out var entry) && timeProvider.GetUtcNow() - entry.FetchedAt < Lifetime
            ? entry.Keys
            : await FetchAsync(issuer, cancellationToken);

    /// <summary>
    /// The keys read again after an unknown key id; null when they were read out of turn within the last 30 s
    /// already (counted from the last read out of turn, not the last read: a rotation right after a read is seen at once).
    /// </summary>
    public async Task<IReadOnlyList<SecurityKey>?> RefetchAsync(string issuer, CancellationToken cancellationToken)
    {
        var now = timeProvider.GetUtcNow();
        var last = forcedAt.GetOrAdd(issuer, DateTimeOffset.MinValue);
        return now - last < ForcedRefetchInterval || !forcedAt.TryUpdate(issuer, now, last) ? null : await FetchAsync(issuer, cancellationToken);
    }

    private async Task<IReadOnlyList<SecurityKey>> FetchAsync(string issuer, CancellationToken cancellationToken)
    {
        var address = issuer.TrimEnd('/') + "/.well-known/openid-configuration";
        OpenIdConnectConfiguration configuration;
        try
        {
            var retriever = new HttpDocumentRetriever(httpClients.CreateClient(HttpClientName)) { RequireHttps = !new Uri(issuer).IsLoopback };
            configuration = await OpenIdConnectConfigurationRetriever.GetAsync(address, retriever, cancellationToken);
        }
        catch (Exception e) when (e is IOException or HttpRequestException or InvalidOperationException or ArgumentException
            or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENTERPRISE_IDP_UNAVAILABLE,
                $"The enterprise IdP's discovery document or keys ({DisplayText.Printable(address)}) could not be read; nothing was spent, try again shortly.");
        }

        if (!Identities.SameIssuer(configuration.Issuer ?? "", issuer))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENTERPRISE_IDP_UNAVAILABLE,
                $"The enterprise IdP's discovery document names issuer '{DisplayText.Printable(configuration.Issuer ?? "")}', not '{DisplayText.Printable(issuer)}': check ENTERPRISE_IDPS.");
        }

        var keys = configuration.SigningKeys.ToArray();
        cache[issuer] = new Entry(keys, timeProvider.GetUtcNow());
        OAuthLog.EnterpriseIdpRead(logger, DisplayText.Printable(issuer), keys.Length);
        return keys;
    }
}
