using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Neotoma.Core.Configuration;
using Neotoma.Core.Health;
using Neotoma.Core.Maintenance;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core;

public static class NeotomaServiceCollectionExtensions
{
    /// <summary>
    /// Every registration Neotoma needs, for every host: the Functions worker, the
    /// self-host and the tests build the same container from this one call.
    /// </summary>
    public static IServiceCollection AddNeotoma(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);

        var database = new DatabaseOptions
        {
            ConnectionString = Required(configuration, SettingNames.DatabaseConnectionString),
            MigrateOnStartup = !string.Equals(configuration[SettingNames.MigrateOnStartup], "false", StringComparison.OrdinalIgnoreCase),
        };
        services.AddSingleton(database);
        services.AddSingleton(_ => NpgsqlDataSource.Create(database.ConnectionString));
        services.AddSingleton<NeotomaDatabase>();
        services.AddSingleton<DatabaseMigrator>();
        services.AddHostedService<MigrationHostedService>();

        services.AddSingleton<HealthService>();
        services.AddSingleton<StateCleanupService>();
        return services;
    }

    internal static string Required(IConfiguration configuration, string name)
    {
        var value = configuration[name];
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new NeotomaConfigurationException(name, $"The setting {name} is required. See docs/configuration.md.");
        }

        return value;
    }
}

/// <summary>A setting is missing or malformed; the app refuses to start and names it.</summary>
public sealed class NeotomaConfigurationException(string setting, string message) : Exception(message)
{
    public string Setting { get; } = setting;
}
