using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>RFC 7009 token revocation: rate-limited like the token endpoint, since it needs no credentials.</summary>
public sealed class RevokeFunction(TokenRevocation revocation, OAuthRequestGuard guard)
{
    [Function("Revoke")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "api/mcp/oauth/revoke")] HttpRequest req,
        CancellationToken cancellationToken) =>
        Cors.PublicApi(req, "POST") is { } preflight ? Task.FromResult(preflight) : guard.HandleAsync(req, RateLimitedEndpoint.Revoke, browser: false, async _ =>
        {
            await revocation.RevokeAsync(await RequestBody.ReadFormAsync(req, cancellationToken), cancellationToken,
                req.Headers.Authorization.ToString() is { Length: > 0 } header ? header : null);
            OAuthResults.NoStore(req);
            return new OkResult();
        }, cancellationToken);
}
