using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>The token endpoint (RFC 6749 §3.2): authorization_code with PKCE, refresh_token, and the JWT bearer grant with an ID-JAG.</summary>
public sealed class TokenFunction(TokenService tokens, OAuthRequestGuard guard)
{
    [Function("Token")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "api/mcp/oauth/token")] HttpRequest req,
        CancellationToken cancellationToken) =>
        Cors.PublicApi(req, "POST") is { } preflight ? Task.FromResult(preflight) : guard.HandleAsync(req, RateLimitedEndpoint.Token, browser: false, async clientIp =>
        {
            var form = await RequestBody.ReadFormAsync(req, cancellationToken);
            var response = await tokens.ExchangeAsync(form, clientIp, cancellationToken, req.Headers.Authorization.ToString() is { Length: > 0 } header ? header : null);
            OAuthResults.NoStore(req);
            return new JsonResult(response);
        }, cancellationToken);
}
