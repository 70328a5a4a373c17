using Microsoft.Extensions.Options;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Storage;

internal sealed class DatabaseOptionsValidator : IValidateOptions<DatabaseOptions>
{
    public ValidateOptionsResult Validate(string? name, DatabaseOptions options) => Settings.Result(
        Settings.Missing(options.ConnectionString, SettingNames.DatabaseConnectionString),
        options.Auth is "password" or "entra" ? null : $"{SettingNames.DatabaseAuth} must be password or entra; got '{options.Auth}'.");
}
