using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Upstream;

public static class UpstreamServiceCollectionExtensions
{
    /// <summary>
    /// The upstream OpenID provider: its options (OIDC_*; the redirect URI is the OAuth server's callback,
    /// set by <c>AddNeotomaOAuth</c>), the HTTP client that reaches it and the provider's client.
    /// </summary>
    public static IServiceCollection AddNeotomaUpstream(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<UpstreamOptions>(configuration, (upstream, settings) =>
        {
            upstream.Issuer = Settings.NormalizedOrAsGiven(settings[SettingNames.UpstreamIssuer], issuer => Settings.HttpUrl(issuer, SettingNames.UpstreamIssuer));
            upstream.Preset = Preset(settings) ?? UpstreamPreset.Oidc;
            upstream.ClientId = Settings.Text(settings, SettingNames.UpstreamClientId) ?? settings[SettingNames.SupabaseClientId];
            upstream.ClientSecret = settings[SettingNames.UpstreamClientSecret];
            upstream.Scopes = Settings.Text(settings, SettingNames.UpstreamScopes) ?? UpstreamOptions.DefaultScopes(upstream.Preset);
            upstream.Timeout = TimeSpan.FromSeconds(Settings.Integer(settings, SettingNames.UpstreamTimeoutSeconds, 5));
        }, new UpstreamOptionsValidator(configuration));
        services.AddHttpClient(UpstreamIdentityProvider.HttpClientName)
            .ConfigureHttpClient((sp, client) => client.Timeout = sp.GetRequiredService<UpstreamOptions>().Timeout);
        services.AddSingleton<UpstreamIdentityProvider>();
        return services;
    }

    /// <summary>OIDC_PRESET (oidc when unset), or null when it names no preset.</summary>
    internal static UpstreamPreset? Preset(IConfiguration configuration) =>
        Enum.TryParse<UpstreamPreset>(Settings.Text(configuration, SettingNames.UpstreamPreset) ?? "oidc", ignoreCase: true, out var preset) ? preset : null;
}
