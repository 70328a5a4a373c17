using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Neotoma.Core.Truth;

namespace Neotoma.Core.Mcp;

/// <summary>
/// How a tool's failure reaches the model, for every tool: bad input and unknown ids as a tool error
/// that names the field (the model can correct itself); a failure the guide knows (the database down,
/// see <see cref="DatabaseOutage.Known"/>) as a tool error that says nothing was changed and to try
/// again, with its code. Anything else is a bug: the SDK answers it with its generic tool error and
/// logs it. The HTTP status is not the tool's to set: the SDK has sent it before a tool runs.
/// </summary>
internal static class ToolFailures
{
    public static McpRequestHandler<CallToolRequestParams, CallToolResult> Filter(McpRequestHandler<CallToolRequestParams, CallToolResult> next) =>
        async (context, cancellationToken) =>
        {
            try
            {
                return await next(context, cancellationToken);
            }
            catch (Exception e) when (Describe(e) is { } text)
            {
                return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = text }] };
            }
        };

    /// <summary>What the model is told about a failure, or null when it is not one it can act on.</summary>
    internal static string? Describe(Exception e) => e switch
    {
        TruthInputException input => $"Invalid argument {input.Message}",
        TruthNotFoundException notFound => notFound.Message,
        McpException => null,
        _ when DatabaseOutage.Known(e) is { } known => $"{known.Message} ({known.Code})",
        _ => null,
    };
}
