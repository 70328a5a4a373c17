using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;
using Neotoma.Functions.Http;
using Neotoma.Pages;

namespace Neotoma.Functions;

/// <summary>The authorization endpoint: validates the request and shows the consent page (or, for a remembered approval, the Continue page).</summary>
public sealed class AuthorizeFunction(
    AuthorizationService authorization, RememberedConsents consents, WebCookies cookies,
    OAuthServerOptions options, OAuthRequestGuard guard)
{
    [Function("Authorize")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/mcp/oauth/authorize")] HttpRequest req,
        CancellationToken cancellationToken) =>
        guard.HandleAsync(req, endpoint: null, browser: true, async clientIp =>
        {
            var request = await authorization.ValidateAsync(req.Query, clientIp, cancellationToken);
            // This signed-in person approved exactly this before: no explanation and no provider sign-in,
            // but never a code without their click here. Any page can send a browser to this URL, and
            // a code sent to a loopback or app redirect could be taken by whatever listens there.
            var remembered = await cookies.SessionAsync(req, cancellationToken) is { } session
                && await consents.CoversAsync(session.UserId, request, cancellationToken) ? session : null;

            var nonce = cookies.ConsentNonce(req);
            return remembered is null
                ? PageResults.Show<ConsentPage>(new()
                {
                    [nameof(ConsentPage.Request)] = request,
                    [nameof(ConsentPage.Csrf)] = authorization.ProtectConsent(request, nonce),
                    [nameof(ConsentPage.Action)] = options.InitiateEndpoint,
                })
                : PageResults.Show<ContinuePage>(new()
                {
                    [nameof(ContinuePage.Request)] = request,
                    [nameof(ContinuePage.Csrf)] = authorization.ProtectConsent(request, AuthorizationService.ContinueBinding(nonce, remembered.UserId)!),
                    [nameof(ContinuePage.Action)] = options.InitiateEndpoint,
                    [nameof(ContinuePage.UserId)] = remembered.UserId,
                });
        }, cancellationToken);
}
