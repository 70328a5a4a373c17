using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.OAuth;

/// <summary>API_BASE is an origin clients reach; the lifetimes set in days and seconds are in range.</summary>
internal sealed class OAuthServerOptionsValidator(IConfiguration configuration) : IValidateOptions<OAuthServerOptions>
{
    public const int DefaultPersonalTokenDays = 90;

    public ValidateOptionsResult Validate(string? name, OAuthServerOptions options) => Settings.Result(
        Settings.Missing(options.Issuer, SettingNames.ApiBase)
            ?? Settings.Problem(() => OAuthServerOptions.NormalizeApiBase(options.Issuer, SettingNames.ApiBase)),
        Settings.NotWholeNumber(configuration, SettingNames.PersonalTokenMaxDays)
            ?? (PersonalTokenDays(configuration) is var days and (< 1 or > 3650)
                ? $"{SettingNames.PersonalTokenMaxDays} must be 1 to 3650 days; got {days}."
                : null),
        Settings.NotWholeNumber(configuration, SettingNames.AccessTokenCacheSeconds));

    public static int PersonalTokenDays(IConfiguration configuration) =>
        Settings.Integer(configuration, SettingNames.PersonalTokenMaxDays, DefaultPersonalTokenDays);
}
