using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Neotoma.Core.Configuration;

/// <summary>
/// Runs every options validator before any of Neotoma's hosted services is built. The host builds all
/// hosted services before it runs its own start validation, and ours take options in their constructors:
/// without this, the first one to need a bad options type would stop the start with that type's failures
/// alone. Registered with the first options type, so it comes before every hosted service of ours.
/// </summary>
internal sealed class SettingsCheck : IHostedService
{
    public SettingsCheck(IStartupValidator validator) => validator.Validate();

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
