using Cronos;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Neotoma.Functions.SelfHost;

/// <summary>
/// Runs each timer function on its own NCRONTAB schedule, as the Functions host does, one
/// run at a time per function. (The real host also takes a blob lease so only one instance
/// runs it; the self-host is a single instance, and the cleanup work is safe to overlap.)
/// </summary>
internal sealed class TimerFunctionScheduler(
    FunctionCatalog catalog,
    IServiceScopeFactory scopes,
    TimeProvider timeProvider,
    ILogger<TimerFunctionScheduler> logger) : BackgroundService
{
    public static CronExpression Parse(string schedule) => CronExpression.Parse(schedule, CronFormat.IncludeSeconds);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(catalog.Timers.Select(timer => RunScheduleAsync(timer, stoppingToken)));

    private async Task RunScheduleAsync(TimerFunction timer, CancellationToken stoppingToken)
    {
        var expression = Parse(timer.Schedule);
        DateTimeOffset? last = null;
        if (timer.RunOnStartup)
        {
            last = await RunOnceAsync(timer, last, expression, stoppingToken);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            var now = timeProvider.GetUtcNow();
            var next = expression.GetNextOccurrence(now, TimeZoneInfo.Utc);
            if (next is null)
            {
                return;
            }

            try
            {
                await Task.Delay(next.Value - now, timeProvider, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            last = await RunOnceAsync(timer, last, expression, stoppingToken);
        }
    }

    private async Task<DateTimeOffset> RunOnceAsync(TimerFunction timer, DateTimeOffset? last, CronExpression expression, CancellationToken stoppingToken)
    {
        var now = timeProvider.GetUtcNow();
        var info = new TimerInfo
        {
            IsPastDue = false,
            ScheduleStatus = new ScheduleStatus
            {
                Last = (last ?? now).UtcDateTime,
                Next = expression.GetNextOccurrence(now, TimeZoneInfo.Utc)?.UtcDateTime ?? DateTime.MaxValue,
                LastUpdated = now.UtcDateTime,
            },
        };
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await FunctionInvoker.InvokeTimerAsync(scope.ServiceProvider, timer, info, stoppingToken);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            SelfHostLog.TimerFailed(logger, timer.Name, e.Message);
        }

        return now;
    }
}
