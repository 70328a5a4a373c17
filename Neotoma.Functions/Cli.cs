using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Neotoma.Core;
using Neotoma.Core.Configuration;
using Neotoma.Core.Storage;
using Neotoma.Functions.SelfHost;

namespace Neotoma.Functions;

/// <summary>The command-line verbs of the app binary, used by ./neotoma.</summary>
internal static class Cli
{
    /// <summary>Runs a verb; a configuration or migration error is one line on stderr and exit code 1, not a stack trace.</summary>
    public static async Task<int> RunAsync(Func<Task> verb)
    {
        try
        {
            await verb();
            return 0;
        }
        catch (Exception e) when (e is NeotomaConfigurationException or MigrationFailedException or Neotoma.Core.OAuth.OAuthException)
        {
            Console.Error.WriteLine($"neotoma: {e.Message}");
            return 1;
        }
    }

    public static async Task MigrateAsync(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Insert(0, new ConfigurationBuilder()
            .AddLocalSettings(Path.Combine(AppContext.BaseDirectory, "local.settings.json")).Sources.Single());
        builder.Services.AddNeotomaStorage(builder.Configuration);
        using var host = builder.Build();
        var migrator = host.Services.GetRequiredService<DatabaseMigrator>();
        var options = host.Services.GetRequiredService<DatabaseOptions>();
        var outcome = await migrator.MigrateAsync(CancellationToken.None);
        host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Neotoma.Migrate").LogInformation(
            "Migrated {Database}: applied [{Applied}], schema version {Version}",
            options.Describe(), string.Join(", ", outcome.Applied), outcome.CurrentVersion);
    }
}
