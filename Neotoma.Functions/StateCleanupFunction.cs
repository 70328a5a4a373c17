using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.Maintenance;

namespace Neotoma.Functions;

public sealed class StateCleanupFunction(StateCleanupService cleanup)
{
    /// <summary>Every 5 minutes (seconds field first, as Azure Functions' NCRONTAB expects).</summary>
    public const string Schedule = "0 */5 * * * *";

    [Function("StateCleanup")]
    public Task Run([TimerTrigger(Schedule)] TimerInfo timer, CancellationToken cancellationToken) =>
        cleanup.RunAsync(cancellationToken);
}
