using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Neotoma.Core.Mcp;

namespace Neotoma.Functions.Http;

/// <summary>
/// CORS, answered by the functions themselves: Azure's platform CORS is app-wide and would
/// override these headers, so it stays off. Discovery, registration, token and revocation are
/// public APIs a browser-based MCP client calls from any origin without credentials; /mcp answers
/// only the origins <see cref="McpOptions"/> allows. Authorize, consent and callback are
/// navigations and carry no CORS headers.
/// </summary>
internal static class Cors
{
    /// <summary>What the MCP SDKs send to the OAuth endpoints (the TypeScript SDK adds MCP-Protocol-Version to discovery).</summary>
    private const string PublicRequestHeaders = "Authorization, Content-Type, MCP-Protocol-Version";

    private const string McpRequestHeaders = "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID";

    private const string McpExposedHeaders = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";

    /// <summary>A browser may cache a preflight this long (Chromium caps it at 2 hours).</summary>
    private const string MaxAgeSeconds = "7200";

    /// <summary>
    /// Headers for a public OAuth API; the 204 answer when the request is a preflight, else null
    /// and the function goes on.
    /// </summary>
    public static IActionResult? PublicApi(HttpRequest request, string methods)
    {
        var headers = request.HttpContext.Response.Headers;
        headers.AccessControlAllowOrigin = "*";
        if (!HttpMethods.IsOptions(request.Method))
        {
            headers.AccessControlExposeHeaders = "Retry-After, WWW-Authenticate";
            return null;
        }

        headers.AccessControlAllowMethods = methods;
        headers.AccessControlAllowHeaders = PublicRequestHeaders;
        headers.AccessControlMaxAge = MaxAgeSeconds;
        return new NoContentResult();
    }

    /// <summary>
    /// /mcp: a 403 for a Host or Origin it does not serve (DNS-rebinding protection), the 204 answer
    /// to an allowed preflight, or null with the allowed origin's headers set.
    /// </summary>
    public static IActionResult? Mcp(HttpRequest request, McpOptions options, string methods)
    {
        if (!options.IsAllowedHost(request.Host.Value))
        {
            return JsonRpcResults.Error(StatusCodes.Status403Forbidden, $"Host {request.Host.Value} is not served here.");
        }

        var origin = request.Headers.Origin.ToString();
        if (!options.IsAllowedOrigin(origin))
        {
            return JsonRpcResults.Error(StatusCodes.Status403Forbidden, $"Origin {origin} may not call this MCP server. Add it to MCP_ALLOWED_ORIGINS to allow it.");
        }

        var headers = request.HttpContext.Response.Headers;
        headers.Vary = "Origin";
        if (origin.Length > 0)
        {
            headers.AccessControlAllowOrigin = origin;
            headers.AccessControlExposeHeaders = McpExposedHeaders;
        }

        if (!HttpMethods.IsOptions(request.Method))
        {
            return null;
        }

        headers.Allow = methods;
        if (origin.Length > 0)
        {
            headers.AccessControlAllowMethods = methods;
            headers.AccessControlAllowHeaders = McpRequestHeaders;
            headers.AccessControlMaxAge = MaxAgeSeconds;
        }

        return new NoContentResult();
    }
}
