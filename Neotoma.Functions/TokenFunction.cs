using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>The token endpoint (RFC 6749 §3.2): authorization_code with PKCE, and refresh_token.</summary>
public sealed class TokenFunction(TokenService tokens, OAuthRequestGuard guard)
{
    [Function("Token")]
    public async Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/mcp/oauth/token")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        var entry = await guard.EnterAsync(req, RateLimitedEndpoint.Token, browser: false, cancellationToken);
        if (entry.Refusal is not null)
        {
            return entry.Refusal;
        }

        try
        {
            var form = await RequestBody.ReadFormAsync(req, cancellationToken);
            var response = await tokens.ExchangeAsync(form, entry.ClientIp, cancellationToken);
            OAuthResults.NoStore(req);
            return new JsonResult(response);
        }
        catch (OAuthException e)
        {
            return OAuthResults.Json(req, e);
        }
    }
}
