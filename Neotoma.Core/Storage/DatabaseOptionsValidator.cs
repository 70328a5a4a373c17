using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Storage;

internal sealed class DatabaseOptionsValidator(IConfiguration configuration) : IValidateOptions<DatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options) => Settings.Result(
        Settings.Missing(options.ConnectionString, SettingNames.DatabaseConnectionString),
        options.Auth is "password" or "entra" ? null : $"{SettingNames.DatabaseAuth} must be password or entra; got '{options.Auth}'.",
        Settings.NotWholeNumber(configuration, SettingNames.DatabasePoolWaitSeconds)
            ?? (options.PoolWaitSeconds is >= 1 and <= DatabaseOptions.MaxPoolWaitSeconds
                ? null
                : $"{SettingNames.DatabasePoolWaitSeconds} must be between 1 and {DatabaseOptions.MaxPoolWaitSeconds} seconds; got {options.PoolWaitSeconds}."));
}
