using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Security;

/// <summary>The encryption keys from settings (MCP_TOKEN_ENCRYPTION_KEY and its previous keys), when no Key Vault holds them.</summary>
public sealed record EncryptionKeyOptions
{
    /// <summary>64 hex characters: the key that encrypts.</summary>
    public string? CurrentKey { get; set; }

    /// <summary>Keys that still decrypt after a local rotation.</summary>
    public IReadOnlyList<string> PreviousKeys { get; set; } = [];
}

/// <summary>A missing or malformed key stops the app at start, with the guide's code and fix (never the key).</summary>
internal sealed class EncryptionKeyOptionsValidator : IValidateOptions<EncryptionKeyOptions>
{
    public ValidateOptionsResult Validate(string? name, EncryptionKeyOptions options) => Settings.Result(
        [Problem(options.CurrentKey, SettingNames.EncryptionKey), .. options.PreviousKeys.Select(key => Problem(key, SettingNames.EncryptionKey + " (previous key)"))]);

    private static string? Problem(string? hex, string setting)
    {
        try
        {
            KeyRing.Parse(hex, setting);
            return null;
        }
        catch (OAuthException e)
        {
            return e.Message;
        }
    }
}

/// <summary>KEY_VAULT_URI must be the vault's https address.</summary>
internal sealed class KeyVaultOptionsValidator(IConfiguration configuration) : IValidateOptions<KeyVaultOptions>
{
    public ValidateOptionsResult Validate(string? name, KeyVaultOptions options) => Settings.Result(
        options.VaultUri is { Scheme: "https" } ? null
            : $"{SettingNames.KeyVaultUri} must be the vault's https URI (https://<name>.vault.azure.net/); got '{configuration[SettingNames.KeyVaultUri]}'.");
}
