using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Neotoma.Core.Configuration;

/// <summary>
/// The validator of options whose settings are counts (limits, days, seconds, bytes): each must be a whole
/// number of 0 or more. The options themselves cannot tell, since a malformed setting binds as its default.
/// </summary>
public sealed class WholeNumbersValidator<T>(IConfiguration configuration, params string[] settings) : IValidateOptions<T>
    where T : class
{
    public ValidateOptionsResult Validate(string? name, T options) =>
        Settings.Result(settings.Select(setting => Settings.NotWholeNumber(configuration, setting)));
}
