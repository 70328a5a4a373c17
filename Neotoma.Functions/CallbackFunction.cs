using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Functions.Http;
using Neotoma.Pages;

namespace Neotoma.Functions;

/// <summary>Where the upstream provider sends the browser after sign-in.</summary>
public sealed class CallbackFunction(CallbackService callbacks, OAuthRequestGuard guard, WebCookies cookies)
{
    [Function("Callback")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "api/mcp/oauth/callback")] HttpRequest req,
        CancellationToken cancellationToken) =>
        guard.HandleAsync(req, RateLimitedEndpoint.Callback, browser: true, async clientIp =>
        {
            var query = OAuthParameters.SingleValued(req.Query);
            var binding = cookies.Binding(req);
            cookies.ClearBinding(req);
            var signedInAs = (await cookies.SessionAsync(req, cancellationToken))?.UserId;
            var outcome = await callbacks.CompleteAsync(query.GetValueOrDefault("code"), query.GetValueOrDefault("state"),
                query.GetValueOrDefault("error"), binding, signedInAs, clientIp, cancellationToken);
            if (outcome.SignInId is { } signInId)
            {
                // Every sign-in in a browser also signs that browser in to the connections page.
                await cookies.StartSessionAsync(req, outcome.UserId, signInId, cancellationToken);
            }

            return outcome.ClientRedirect is { } location
                ? OAuthResults.Redirect(req, location)
                : PageResults.Show<ConnectionCreatedPage>(new()
                {
                    [nameof(ConnectionCreatedPage.ConnectionId)] = outcome.ConnectionId,
                    [nameof(ConnectionCreatedPage.ClientName)] = outcome.ClientName,
                });
        }, cancellationToken);
}
