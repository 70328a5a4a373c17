using Azure.Core;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Security;

public static class SecurityServiceCollectionExtensions
{
    /// <summary>
    /// The key ring and what uses it: filled from MCP_TOKEN_ENCRYPTION_KEY (checked at start), or, when
    /// KEY_VAULT_URI is set, loaded from Key Vault by <see cref="EncryptionKeyLoader"/> when the host starts.
    /// </summary>
    public static IServiceCollection AddNeotomaEncryptionKeys(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<TokenCipher>();
        services.AddSingleton<KeyRotationService>();
        if (Settings.Text(configuration, SettingNames.KeyVaultUri) is null)
        {
            services.AddSettingsOptions<EncryptionKeyOptions>(configuration, (keys, settings) =>
            {
                keys.CurrentKey = settings[SettingNames.EncryptionKey];
                keys.PreviousKeys = (settings[SettingNames.PreviousEncryptionKeys] ?? "")
                    .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            }, new EncryptionKeyOptionsValidator());
            services.AddSingleton(sp =>
            {
                var keys = sp.GetRequiredService<EncryptionKeyOptions>();
                return KeyRing.FromHex(keys.CurrentKey, SettingNames.EncryptionKey, keys.PreviousKeys);
            });
            return services;
        }

        services.AddSingleton(new KeyRing());
        services.AddSettingsOptions<KeyVaultOptions>(configuration, (vault, settings) =>
        {
            vault.VaultUri = Uri.TryCreate(settings[SettingNames.KeyVaultUri], UriKind.Absolute, out var uri) ? uri : null!;
            vault.SecretName = Settings.Text(settings, SettingNames.KeyVaultSecretName) ?? "mcp-token-encryption-key";
        }, new KeyVaultOptionsValidator(configuration));
        // The app's managed identity in Azure; a developer's az login locally. Injectable for tests.
        services.TryAddSingleton<TokenCredential>(_ => new DefaultAzureCredential());
        services.TryAddSingleton(new SecretClientOptions());
        services.AddSingleton(sp => new SecretClient(
            sp.GetRequiredService<KeyVaultOptions>().VaultUri, sp.GetRequiredService<TokenCredential>(), sp.GetRequiredService<SecretClientOptions>()));
        services.AddSingleton<EncryptionKeyLoader>();
        services.AddHostedService(sp => sp.GetRequiredService<EncryptionKeyLoader>());
        return services;
    }

    /// <summary>The rate limits and the client IP they count by.</summary>
    public static IServiceCollection AddNeotomaRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<RateLimitOptions>(configuration, (limits, settings) =>
        {
            limits.InitiatePerMinute = Settings.Integer(settings, SettingNames.RateLimitInitiate, limits.InitiatePerMinute);
            limits.CallbackPerMinute = Settings.Integer(settings, SettingNames.RateLimitCallback, limits.CallbackPerMinute);
            limits.TokenPerMinute = Settings.Integer(settings, SettingNames.RateLimitToken, limits.TokenPerMinute);
            limits.RegisterPerMinute = Settings.Integer(settings, SettingNames.RateLimitRegister, limits.RegisterPerMinute);
            limits.RevokePerMinute = Settings.Integer(settings, SettingNames.RateLimitRevoke, limits.RevokePerMinute);
            limits.JwtBearerPerMinute = Settings.Integer(settings, SettingNames.RateLimitJwtBearer, limits.JwtBearerPerMinute);
        }, new WholeNumbersValidator<RateLimitOptions>(configuration,
            SettingNames.RateLimitInitiate, SettingNames.RateLimitCallback, SettingNames.RateLimitToken, SettingNames.RateLimitRegister, SettingNames.RateLimitRevoke,
            SettingNames.RateLimitJwtBearer));
        services.AddSingleton<RateLimiter>();

        services.AddSettingsOptions<ClientIpOptions>(configuration,
            (ip, settings) => ip.TrustedProxies = Settings.Integer(settings, SettingNames.TrustedProxyCount, 0),
            new WholeNumbersValidator<ClientIpOptions>(configuration, SettingNames.TrustedProxyCount));
        services.AddSingleton(sp => new ClientIpResolver(sp.GetRequiredService<ClientIpOptions>().TrustedProxies));
        return services;
    }
}
