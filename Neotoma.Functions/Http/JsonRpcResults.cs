using Microsoft.AspNetCore.Mvc;

namespace Neotoma.Functions.Http;

/// <summary>A refusal of /mcp before the MCP SDK runs, in the JSON-RPC shape MCP clients read.</summary>
internal static class JsonRpcResults
{
    /// <summary>JSON-RPC 2.0 "Invalid Request".</summary>
    public const int InvalidRequest = -32600;

    /// <summary>JSON-RPC 2.0 "Invalid params".</summary>
    public const int InvalidParams = -32602;

    public static JsonResult Error(int status, string message, int code = InvalidRequest) =>
        new(new { jsonrpc = "2.0", id = (object?)null, error = new { code, message } }) { StatusCode = status };
}
