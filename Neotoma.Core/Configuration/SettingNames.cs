namespace Neotoma.Core.Configuration;

/// <summary>
/// The names of every setting Neotoma reads. They are flat upper-case names because Azure
/// app settings, local.settings.json and shell environments all carry them unchanged, and
/// because the troubleshooting guide uses these exact names.
/// </summary>
public static class SettingNames
{
    /// <summary>Npgsql connection string of the app's database role (not a superuser).</summary>
    public const string DatabaseConnectionString = "DATABASE_CONNECTION_STRING";

    /// <summary>Apply pending migrations when the app starts ("true" unless set to "false").</summary>
    public const string MigrateOnStartup = "DATABASE_MIGRATE_ON_STARTUP";
}
