namespace Neotoma.Core.Storage;

/// <summary><c>mcp_maintenance_runs</c>: the only code with SQL for it. One row per background job, its last run and result.</summary>
public static class MaintenanceRunStore
{
    public static Task RecordAsync(NeotomaDatabase database, string job, DateTimeOffset at, string resultJson, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var command = transaction.Command("""
                INSERT INTO mcp_maintenance_runs (job, last_run_at, last_result) VALUES (@job, @now, @result::jsonb)
                ON CONFLICT (job) DO UPDATE SET last_run_at = EXCLUDED.last_run_at, last_result = EXCLUDED.last_result
                """);
            command.Parameters.With("job", job).With("now", at).With("result", resultJson);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }, cancellationToken);

    public static async Task<DateTimeOffset?> LastRunAsync(Npgsql.NpgsqlTransaction transaction, string job, CancellationToken cancellationToken)
    {
        await using var command = transaction.Command("SELECT last_run_at FROM mcp_maintenance_runs WHERE job = @job");
        command.Parameters.AddWithValue("job", job);
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime at ? new DateTimeOffset(at, TimeSpan.Zero) : null;
    }
}
