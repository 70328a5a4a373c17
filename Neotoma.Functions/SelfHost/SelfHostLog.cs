using Microsoft.Extensions.Logging;

namespace Neotoma.Functions.SelfHost;

internal static partial class SelfHostLog
{
    [LoggerMessage(EventId = 900, Level = LogLevel.Error, Message = "Timer function {Function} failed: {Reason}")]
    public static partial void TimerFailed(ILogger logger, string function, string reason);

    [LoggerMessage(EventId = 901, Level = LogLevel.Information,
        Message = "Self-host serving {HttpCount} HTTP function(s) and {TimerCount} timer function(s) with routePrefix \"{RoutePrefix}\"")]
    public static partial void Serving(ILogger logger, int httpCount, int timerCount, string routePrefix);
}
