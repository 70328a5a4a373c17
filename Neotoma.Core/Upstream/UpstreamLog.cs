using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Upstream;

/// <summary>The troubleshooting guide's log lines about the upstream provider, word for word. No token, code or secret ever goes in.</summary>
internal static partial class UpstreamLog
{
    [LoggerMessage(EventId = 204, Level = LogLevel.Warning, Message = "[MCP OAuth] Failed to {Action}: {Reason}")]
    public static partial void FailedTo(ILogger logger, string action, string reason);

    [LoggerMessage(EventId = 205, Level = LogLevel.Warning, Message = "[MCP OAuth] Failed to {Action} at the sign-in provider: {Reason}")]
    public static partial void UpstreamFailure(ILogger logger, string action, string reason);

    [LoggerMessage(EventId = 206, Level = LogLevel.Information, Message = "[MCP OAuth] Dynamically registered OAuth client {ClientId} at {Issuer}")]
    public static partial void DynamicallyRegistered(ILogger logger, string issuer, string clientId);
}
