using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.Maintenance;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Functions;

public sealed class StateCleanupFunction(
    StateCleanupService cleanup, TokenRevocation revocation, BrowserSignIns signIns, UpstreamRevocations upstreamRevocations)
{
    /// <summary>Every 5 minutes (seconds field first, as Azure Functions' NCRONTAB expects).</summary>
    public const string Schedule = "0 */5 * * * *";

    /// <summary>
    /// Deletes what expired, revokes connections whose code was never redeemed, re-checks browser sign-ins
    /// with the provider (ending what it refuses), and sends the provider the revocations it has not
    /// taken yet (the revoking instance's wake-up is the fast path).
    /// </summary>
    [Function("StateCleanup")]
    public async Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken)
    {
        await cleanup.RunAsync(cancellationToken);
        await revocation.RevokeAbandonedAsync(cancellationToken);
        await signIns.RecheckAsync(cancellationToken);
        await upstreamRevocations.SendDueAsync(cancellationToken);
    }
}
