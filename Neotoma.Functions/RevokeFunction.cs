using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>RFC 7009 token revocation.</summary>
public sealed class RevokeFunction(TokenService tokens)
{
    [Function("Revoke")]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "api/mcp/oauth/revoke")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        if (Cors.PublicApi(req, "POST") is { } preflight)
        {
            return preflight;
        }

        try
        {
            await tokens.RevokeAsync(await RequestBody.ReadFormAsync(req, cancellationToken), cancellationToken);
            OAuthResults.NoStore(req);
            return new OkResult();
        }
        catch (OAuthException e)
        {
            return OAuthResults.Json(req, e);
        }
    }
}
