using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Configuration;
using Neotoma.Core.Diagnostics;
using Neotoma.Core.Health;
using Neotoma.Core.Maintenance;
using Neotoma.Core.Mcp;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Core.Truth;
using Neotoma.Core.Upstream;
using Neotoma.Core.Web;
using Npgsql;

namespace Neotoma.Core;

public static class NeotomaServiceCollectionExtensions
{
    /// <summary>
    /// Every registration Neotoma needs, for every host: the Functions worker, the self-host and the
    /// tests build the same container from this one call. Settings are bound to options here and
    /// checked when the host starts (every failure at once); each capability wires itself next to its code.
    /// </summary>
    public static IServiceCollection AddNeotoma(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddNeotomaStorage(configuration);
        services.Configure<LoggerFilterOptions>(LoggingRules.ApplyDefaults);
        services.PostConfigure<LoggerFilterOptions>(LoggingRules.ApplyCaps);
        services.AddNeotomaEncryptionKeys(configuration);
        services.AddNeotomaRateLimits(configuration);
        services.AddNeotomaUpstream(configuration);
        services.AddNeotomaOAuth(configuration);
        services.AddNeotomaWeb();
        services.AddNeotomaMcp(configuration);
        services.AddNeotomaTruth(configuration);
        services.AddSingleton<HealthService>();
        services.AddNeotomaCleanup(configuration);
        return services;
    }

    /// <summary>The database alone: what `migrate` needs, without the OAuth settings.</summary>
    public static IServiceCollection AddNeotomaStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSettingsOptions<DatabaseOptions>(configuration, (database, settings) =>
        {
            database.ConnectionString = settings[SettingNames.DatabaseConnectionString] ?? "";
            database.MigrateOnStartup = !string.Equals(settings[SettingNames.MigrateOnStartup], "false", StringComparison.OrdinalIgnoreCase);
            database.Auth = Settings.Text(settings, SettingNames.DatabaseAuth)?.ToLowerInvariant() ?? "password";
            database.DirectConnectionString = Settings.Text(settings, SettingNames.DatabaseDirectConnectionString);
            database.PoolWaitSeconds = Settings.Integer(settings, SettingNames.DatabasePoolWaitSeconds, DatabaseOptions.DefaultPoolWaitSeconds);
        }, new DatabaseOptionsValidator(configuration));

        services.AddSingleton(sp => BuildDataSource(sp, sp.GetRequiredService<DatabaseOptions>().ConnectionString));
        // Migrations (a session advisory lock) and LISTEN need a session of their own: behind a
        // transaction-mode pooler they take the server's direct port (DATABASE_DIRECT_CONNECTION_STRING).
        services.AddSingleton(sp => new DirectDatabase(sp.GetRequiredService<DatabaseOptions>().DirectConnectionString is { } direct
            ? BuildDataSource(sp, direct)
            : sp.GetRequiredService<NpgsqlDataSource>()));
        services.AddSingleton<NeotomaDatabase>();
        services.AddSingleton(sp => new DatabaseMigrator(sp.GetRequiredService<DirectDatabase>().DataSource, sp.GetRequiredService<ILogger<DatabaseMigrator>>()));
        services.AddHostedService<MigrationHostedService>();
        return services;
    }

    private static NpgsqlDataSource BuildDataSource(IServiceProvider sp, string connectionString)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase))
        {
            // Every query is fixed SQL, so a statement used five times is worth preparing once per
            // connection: PostgreSQL then skips planning (about a fifth of a retrieve_entities call).
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        }

        var options = sp.GetRequiredService<DatabaseOptions>();
        // A bounded wait for the pool: past it, the request is answered 503 with Retry-After (the
        // /mcp function asks before the SDK starts its answer) rather than held while callers pile up.
        builder.ConnectionStringBuilder.Timeout = options.PoolWaitSeconds;
        if (options.Auth == "entra")
        {
            // Azure Database for PostgreSQL with Entra authentication: the password is a token of the
            // app's managed identity, renewed before it expires, so no secret sits in app settings.
            var credential = sp.GetService<TokenCredential>() ?? new DefaultAzureCredential();
            var scope = new TokenRequestContext(["https://ossrdbms-aad.database.windows.net/.default"]);
            builder.UsePeriodicPasswordProvider(
                async (_, cancellationToken) => (await credential.GetTokenAsync(scope, cancellationToken)).Token,
                TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(10));
        }

        return builder.Build();
    }
}
