using Microsoft.AspNetCore.Mvc;

namespace Neotoma.Functions.Http;

/// <summary>A refusal of /mcp before the MCP SDK runs, in the JSON-RPC shape MCP clients read.</summary>
internal static class JsonRpcResults
{
    public static JsonResult Error(int status, string message) =>
        new(new { jsonrpc = "2.0", id = (object?)null, error = new { code = -32600, message } }) { StatusCode = status };
}
