using System.Text.Json.Serialization;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Health;

public sealed record HealthReport(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("database")] string Database,
    [property: JsonPropertyName("migration_version")] string? MigrationVersion,
    [property: JsonPropertyName("expected_migration_version")] string? ExpectedMigrationVersion,
    [property: JsonPropertyName("reason")] string? Reason)
{
    /// <summary>When this instance started: `./neotoma doctor` tells a timer that has not run yet from one that stopped.</summary>
    [JsonPropertyName("started_at")]
    public DateTimeOffset StartedAt { get; init; } = InstanceStart;

    /// <summary>
    /// hearing, deaf or off (<see cref="RevocationChannelState"/>). Deaf leaves the status "ok": the instance
    /// still answers correctly, with its access-token cache off; `./neotoma doctor` fails on it.
    /// </summary>
    [JsonPropertyName("revocation_channel")]
    public string? RevocationChannel { get; init; }

    [JsonPropertyName("revocation_channel_reason")]
    public string? RevocationChannelReason { get; init; }

    [JsonPropertyName("revocation_probe_heard_at")]
    public DateTimeOffset? RevocationProbeHeardAt { get; init; }

    [JsonIgnore]
    public bool IsHealthy => Status == "ok";

    private static readonly DateTimeOffset InstanceStart = new(System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime());
}

/// <summary>
/// Answers whether this instance can serve: the database answers and the schema is at the
/// version this build expects; and whether it hears revocations (its access-token cache is on).
/// Says nothing that would help an attacker (no host, no user).
/// </summary>
public sealed class HealthService(NpgsqlDataSource dataSource, KeyRing keys, RevocationListener revocationListener)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var report = await CheckServingAsync(cancellationToken);
        var channel = revocationListener.State;
        return report with
        {
            RevocationChannel = channel.Status,
            RevocationChannelReason = channel.Reason,
            RevocationProbeHeardAt = channel.LastProbeHeardAt,
        };
    }

    private async Task<HealthReport> CheckServingAsync(CancellationToken cancellationToken)
    {
        var expected = MigrationScripts.Neotoma.Latest;
        if (!keys.IsLoaded)
        {
            return new HealthReport("unavailable", "unknown", null, expected,
                "The encryption key is not loaded: " + (keys.LoadError ?? "loading") + ".");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        string? applied;
        try
        {
            applied = await DatabaseMigrator.ReadAppliedVersionAsync(dataSource, timeout.Token);
        }
        catch (Exception e) when (DatabaseOutage.Is(e) || e is NpgsqlException or OperationCanceledException)
        {
            return new HealthReport("unavailable", "unreachable", null, expected,
                "The database did not answer; check DATABASE_CONNECTION_STRING and that PostgreSQL is running.");
        }

        return applied == expected
            ? new HealthReport("ok", "reachable", applied, expected, null)
            : new HealthReport("unavailable", "reachable", applied, expected,
                $"Migrations pending: the schema is at {applied ?? "(none)"}, this build needs {expected}. Run ./neotoma migrate.");
    }
}
