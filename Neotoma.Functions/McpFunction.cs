using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.Mcp;

namespace Neotoma.Functions;

/// <summary>/mcp: the bearer token decides who the tools act for; the MCP SDK does the rest.</summary>
public sealed class McpFunction(BearerAuthenticator bearer, McpEndpoint mcp)
{
    [Function("Mcp")]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", "post", "delete", Route = "mcp")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        var result = await bearer.AuthenticateAsync(req, cancellationToken);
        if (result.Principal is null)
        {
            req.HttpContext.Response.Headers.WWWAuthenticate = result.Challenge;
            return new UnauthorizedResult();
        }

        req.HttpContext.User = result.Principal;
        await mcp.HandleAsync(req.HttpContext);
        return new EmptyResult();
    }
}
