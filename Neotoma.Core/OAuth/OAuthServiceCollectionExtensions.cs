using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.Storage;
using Neotoma.Core.Upstream;

namespace Neotoma.Core.OAuth;

public static class OAuthServiceCollectionExtensions
{
    /// <summary>
    /// The authorization server: its options (API_BASE, token lifetimes), discovery, registration (client
    /// metadata documents included), authorize, callback, tokens, revocation and its listener, and the browser
    /// sign-ins they start. Needs <c>AddNeotomaUpstream</c>, <c>AddNeotomaEncryptionKeys</c> and <c>AddNeotomaRateLimits</c>.
    /// </summary>
    public static IServiceCollection AddNeotomaOAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<OAuthServerOptions>(configuration, (server, settings) =>
        {
            server.Issuer = Issuer(settings);
            var personalTokenDays = OAuthServerOptionsValidator.PersonalTokenDays(settings);
            server.PersonalTokenMaxLifetime = TimeSpan.FromDays(personalTokenDays is >= 1 and <= 3650 ? personalTokenDays : OAuthServerOptionsValidator.DefaultPersonalTokenDays);
            server.AccessTokenCacheLifetime = TimeSpan.FromSeconds(Settings.Integer(settings, SettingNames.AccessTokenCacheSeconds, 5));
        }, new OAuthServerOptionsValidator(configuration));
        // The provider sends the browser back to our callback, which API_BASE decides.
        services.PostConfigure<UpstreamOptions>(upstream => upstream.RedirectUri = new OAuthServerOptions { Issuer = Issuer(configuration) }.CallbackEndpoint);

        services.AddSettingsOptions<ClientMetadataDocumentOptions>(configuration, (_, _) => { });
        services.AddSingleton<DocumentFetchFence>();
        services.AddSingleton<ClientMetadataDocuments>();
        services.AddHttpClient(ClientMetadataDocuments.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => ClientMetadataDocuments.CreateHandler(sp.GetRequiredService<DocumentFetchFence>()));
        // private_key_jwt: the client's keys come through the documents' fenced client; jti are remembered in PostgreSQL (JwtIdStore).
        services.AddSingleton(new ClientJwksOptions());
        services.AddSingleton<ClientJwks>();
        services.AddSingleton<ClientAssertions>();
        services.AddSingleton<ClientSecrets>();

        // Enterprise-managed authorization: the trusted IdPs (ENTERPRISE_IDPS), their keys, the ID-JAG grant, operator-registered clients.
        services.AddSettingsOptions<EnterpriseIdpOptions>(configuration, EnterpriseIdpOptionsValidator.Bind, new EnterpriseIdpOptionsValidator());
        services.AddHttpClient(EnterpriseIdpKeys.HttpClientName).ConfigureHttpClient(client => client.Timeout = TimeSpan.FromSeconds(5));
        services.AddSingleton<EnterpriseIdpKeys>();
        services.AddSingleton<IdJagGrant>();
        services.AddSingleton<EnterpriseClients>();

        services.AddSingleton<UpstreamRevocations>();
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamRevocations>());
        services.AddSingleton<AuditLog>();
        services.AddSingleton<DiscoveryDocuments>();
        services.AddSingleton<ClientRegistrationService>();
        services.AddSingleton<AuthorizationService>();
        services.AddSettingsOptions<WebSessionOptions>(configuration, (_, _) => { });
        services.AddSingleton<BrowserSignIns>();
        services.AddSingleton<RememberedConsents>();
        services.AddSingleton<CallbackService>();
        services.AddSingleton<Identities>();
        services.AddSingleton<TokenIssuer>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<UpstreamSessionRefresher>();
        services.AddSingleton<TokenRevocation>();
        services.AddSingleton<AccessTokenValidator>();
        services.AddSingleton(sp => new AccessTokenCache(sp.GetRequiredService<OAuthServerOptions>().AccessTokenCacheLifetime, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RevocationListener>();
        services.AddHostedService(sp => sp.GetRequiredService<RevocationListener>());
        return services;
    }

    /// <summary>API_BASE as the issuer (an origin without trailing slash), or as given when malformed: the validator reports it.</summary>
    private static string Issuer(IConfiguration configuration) =>
        Settings.NormalizedOrAsGiven(configuration[SettingNames.ApiBase], apiBase => OAuthServerOptions.NormalizeApiBase(apiBase, SettingNames.ApiBase));
}
