using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Maintenance;

public static class MaintenanceServiceCollectionExtensions
{
    /// <summary>The five-minute cleanup and how long it keeps unused clients and audit rows (CLIENT_RETENTION_DAYS, AUDIT_RETENTION_DAYS).</summary>
    public static IServiceCollection AddNeotomaCleanup(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<CleanupOptions>(configuration, (cleanup, settings) =>
        {
            cleanup.ClientRetention = TimeSpan.FromDays(Settings.Integer(settings, SettingNames.ClientRetentionDays, 90));
            cleanup.AuditRetention = TimeSpan.FromDays(Settings.Integer(settings, SettingNames.AuditRetentionDays, 90));
        }, new WholeNumbersValidator<CleanupOptions>(configuration, SettingNames.ClientRetentionDays, SettingNames.AuditRetentionDays));
        services.AddSingleton<StateCleanupService>();
        return services;
    }
}
