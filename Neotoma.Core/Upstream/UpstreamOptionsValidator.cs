using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Upstream;

/// <summary>OIDC_ISSUER is the provider's absolute URL, OIDC_PRESET a known preset, OIDC_TIMEOUT_SECONDS a count.</summary>
internal sealed class UpstreamOptionsValidator(IConfiguration configuration) : IValidateOptions<UpstreamOptions>
{
    public ValidateOptionsResult Validate(string? name, UpstreamOptions options) => Settings.Result(
        Settings.Missing(options.Issuer, SettingNames.UpstreamIssuer)
            ?? Settings.Problem(() => Settings.HttpUrl(options.Issuer, SettingNames.UpstreamIssuer)),
        UpstreamServiceCollectionExtensions.Preset(configuration) is null
            ? $"{SettingNames.UpstreamPreset} must be oidc, entra or supabase; got '{configuration[SettingNames.UpstreamPreset]}'."
            : null,
        Settings.NotWholeNumber(configuration, SettingNames.UpstreamTimeoutSeconds));
}
