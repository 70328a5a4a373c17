using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Storage;

internal static partial class StorageLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Warning,
        Message = "Database unreachable ({Database}): {Reason}. Retrying in {DelaySeconds} s (attempt {Attempt})")]
    public static partial void DatabaseUnreachable(ILogger logger, string database, string reason, int delaySeconds, int attempt);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information,
        Message = "Database migrated ({Database}): applied {AppliedCount} script(s), schema version {Version}")]
    public static partial void DatabaseMigrated(ILogger logger, string database, int appliedCount, string? version);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error,
        Message = "Migration {File} failed and was rolled back; the schema is unchanged: {Reason}")]
    public static partial void MigrationFailed(ILogger logger, string file, string reason);
}
