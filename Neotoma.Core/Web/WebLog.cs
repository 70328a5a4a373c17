using Microsoft.Extensions.Logging;

namespace Neotoma.Core.Web;

/// <summary>Log lines of the connections page. No session cookie, CSRF token or personal token ever goes in.</summary>
internal static partial class WebLog
{
    [LoggerMessage(EventId = 403, Level = LogLevel.Information, Message = "[MCP OAuth] Signed out everywhere: {Sessions} web session(s) ended")]
    public static partial void SignedOutEverywhere(ILogger logger, int sessions);
}
