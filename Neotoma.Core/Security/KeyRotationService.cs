using Microsoft.Extensions.Logging;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Security;

public sealed record RotationReport(int Reencrypted, int AlreadyCurrent, int Unreadable);

/// <summary>
/// Re-encrypts every stored upstream secret (connections', browser sign-ins' and the revocations still
/// queued for the provider) with the current key, in batches, for `./neotoma rotate-key`. Rows are also
/// re-encrypted one by one as they are next used, so running this is what lets an old key be retired,
/// not what keeps connections working.
/// </summary>
public sealed partial class KeyRotationService(NeotomaDatabase database, TokenCipher cipher, ILogger<KeyRotationService> logger)
{
    private const int BatchSize = 200;

    private enum Outcome
    {
        Current,
        Reencrypted,
        Unreadable,
    }

    public async Task<RotationReport> RotateAllAsync(CancellationToken cancellationToken)
    {
        var outcomes = new List<Outcome>();
        foreach (var holder in new[] { GrantStore.Upstream, BrowserSignInStore.Upstream })
        {
            await InBatchesAsync("", row => row.Id, (transaction, after) => holder.LockBatchAsync(transaction, after, BatchSize, cancellationToken),
                async (transaction, row) => outcomes.Add(await ReencryptRowAsync(transaction, holder, row.Id, row.Refresh, row.Access, cancellationToken)),
                cancellationToken);
        }

        // The provider revocations still queued, so retiring the old key does not drop one the provider has not taken yet.
        await InBatchesAsync(0L, row => row.Id, (transaction, after) => UpstreamRevocationStore.LockBatchAsync(transaction, after, BatchSize, cancellationToken),
            async (transaction, row) =>
            {
                var (outcome, token) = Reencrypt(row.Token);
                if (outcome == Outcome.Reencrypted)
                {
                    await UpstreamRevocationStore.ReplaceTokenAsync(transaction, row.Id, token!, cancellationToken);
                }

                outcomes.Add(outcome);
            },
            cancellationToken);

        var report = new RotationReport(outcomes.Count(o => o == Outcome.Reencrypted), outcomes.Count(o => o == Outcome.Current), outcomes.Count(o => o == Outcome.Unreadable));
        Rotated(logger, report.Reencrypted, report.AlreadyCurrent, report.Unreadable);
        return report;
    }

    /// <summary>
    /// Re-encrypts one holder's stored tokens if a previous key made them, as they are used: for a row the
    /// caller's transaction has locked and read (the refresh transaction).
    /// </summary>
    public async Task ReencryptIfStaleAsync(
        NpgsqlTransaction transaction, UpstreamTokenHolder holder, string id, string? refresh, string? access, CancellationToken cancellationToken) =>
        await ReencryptRowAsync(transaction, holder, id, refresh, access, cancellationToken);

    /// <summary>Each batch in its own short transaction (rows locked elsewhere are skipped), until a batch comes back empty.</summary>
    private async Task InBatchesAsync<TKey, TRow>(
        TKey start, Func<TRow, TKey> keyOf, Func<NpgsqlTransaction, TKey, Task<List<TRow>>> lockBatch, Func<NpgsqlTransaction, TRow, Task> each,
        CancellationToken cancellationToken)
    {
        var after = start;
        while (true)
        {
            var batch = await database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
            {
                var rows = await lockBatch(transaction, after);
                foreach (var row in rows)
                {
                    await each(transaction, row);
                }

                return rows;
            }, cancellationToken);

            if (batch.Count == 0)
            {
                return;
            }

            after = keyOf(batch[^1]);
        }
    }

    private async Task<Outcome> ReencryptRowAsync(
        NpgsqlTransaction transaction, UpstreamTokenHolder holder, string id, string? refresh, string? access, CancellationToken cancellationToken)
    {
        var (refreshOutcome, newRefresh) = refresh is null ? (Outcome.Current, null) : Reencrypt(refresh);
        var (accessOutcome, newAccess) = access is null ? (Outcome.Current, null) : Reencrypt(access);
        if (refreshOutcome == Outcome.Unreadable || accessOutcome == Outcome.Unreadable)
        {
            return Outcome.Unreadable;
        }

        if (refreshOutcome == Outcome.Current && accessOutcome == Outcome.Current)
        {
            return Outcome.Current;
        }

        await holder.ReplaceAsync(transaction, id, newRefresh ?? refresh, newAccess ?? access, cancellationToken);
        return Outcome.Reencrypted;
    }

    /// <summary>One stored secret under the current key: the new ciphertext when a previous key made it.</summary>
    private (Outcome Outcome, string? Ciphertext) Reencrypt(string ciphertext) => cipher.TryDecryptWithAge(ciphertext) switch
    {
        null => (Outcome.Unreadable, null),
        { Stale: false } => (Outcome.Current, null),
        { } stale => (Outcome.Reencrypted, cipher.Encrypt(stale.Plaintext)),
    };

    [LoggerMessage(EventId = 410, Level = LogLevel.Information,
        Message = "Key rotation: re-encrypted {Reencrypted} stored upstream token(s) (connections, browser sign-ins, queued revocations), {Current} already current, {Unreadable} unreadable with any key")]
    private static partial void Rotated(ILogger logger, int reencrypted, int current, int unreadable);
}
