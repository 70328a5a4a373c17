using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>RFC 7591 dynamic client registration.</summary>
public sealed class RegisterFunction(ClientRegistrationService registrations, OAuthRequestGuard guard)
{
    [Function("Register")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", "options", Route = "api/mcp/oauth/register")] HttpRequest req,
        CancellationToken cancellationToken) =>
        Cors.PublicApi(req, "POST") is { } preflight ? Task.FromResult(preflight) : guard.HandleAsync(req, RateLimitedEndpoint.Register, browser: false, async _ =>
        {
            if (!RequestBody.IsMediaType(req, "application/json"))
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA, "The request body must be application/json client metadata.");
            }

            var body = await RequestBody.ReadTextAsync(req, ClientRegistrationService.MaxBodyBytes, OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA, cancellationToken);
            var client = await registrations.RegisterAsync(body, cancellationToken);
            OAuthResults.NoStore(req);
            return new JsonResult(client) { StatusCode = StatusCodes.Status201Created };
        }, cancellationToken);
}
