using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Web;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>
/// The guide's initiate endpoint. From the consent form: Approve creates the single-use state
/// and sends the browser to the upstream sign-in; Deny returns access_denied to the client.
/// From the continue form of a remembered approval: Continue sends the code to the client at once.
/// From a JSON caller: starts a connection and answers {authUrl, connectionId, expiresAt}.
/// </summary>
public sealed class InitiateFunction(
    AuthorizationService authorization, CallbackService callbacks, RememberedConsents consents, OAuthServerOptions options, OAuthRequestGuard guard, WebCookies cookies)
{
    private static readonly HashSet<string> ConsentOnlyFields = ["csrf_token", "decision", "read_only"];

    [Function("Initiate")]
    public Task<IActionResult> Run(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "api/mcp/oauth/initiate")] HttpRequest req,
        CancellationToken cancellationToken)
    {
        var json = RequestBody.IsMediaType(req, "application/json");
        return guard.HandleAsync(req, RateLimitedEndpoint.Initiate, browser: !json,
            clientIp => json ? FromJsonAsync(req, clientIp, cancellationToken) : FromConsentFormAsync(req, clientIp, cancellationToken),
            cancellationToken);
    }

    private async Task<IActionResult> FromConsentFormAsync(HttpRequest req, string clientIp, CancellationToken cancellationToken)
    {
        WebForms.RefuseOtherSites(req, options, "This consent form was posted from another site. Go back to your MCP client and connect again.");

        var form = (await RequestBody.ReadFormAsync(req, cancellationToken)).ToArray();
        var fields = OAuthParameters.SingleValued(form);
        var request = await authorization.ValidateAsync(form.Where(f => !ConsentOnlyFields.Contains(f.Key)), clientIp, cancellationToken);
        var decision = fields.GetValueOrDefault("decision");
        if (decision is not ("approve" or "deny" or "continue"))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "decision must be approve, deny or continue.");
        }

        if (decision == "continue")
        {
            // Continue on a remembered approval: this browser's form, its signed-in person, still approved.
            authorization.RequireConsentForm(request, fields.GetValueOrDefault("csrf_token"), cookies.PostedConsentNonce(req));
            if (await cookies.SessionAsync(req, cancellationToken) is { } session && await consents.CoversAsync(session.UserId, request, cancellationToken))
            {
                return OAuthResults.Redirect(req, await callbacks.CompleteRememberedAsync(request, session.UserId, clientIp, cancellationToken));
            }

            // Signed out or forgotten since the page was shown: the person signs in at the provider, as on Approve.
        }

        var location = await authorization.DecideAsync(request, fields.GetValueOrDefault("csrf_token"),
            cookies.PostedConsentNonce(req), decision != "deny", readOnly: fields.ContainsKey("read_only"),
            browserBinding: cookies.NewBinding(req), clientIp, cancellationToken);
        return OAuthResults.Redirect(req, location);
    }

    private async Task<IActionResult> FromJsonAsync(HttpRequest req, string clientIp, CancellationToken cancellationToken)
    {
        var text = await RequestBody.ReadTextAsync(req, RequestBody.MaxFormBytes, OAuthErrorCode.OAUTH_INVALID_REQUEST, cancellationToken);
        var body = OAuthJson.ParseObject(text, OAuthErrorCode.OAUTH_INVALID_REQUEST, "connection settings");
        var connectionId = OAuthJson.OptionalString(body, "connection_id", OAuthErrorCode.OAUTH_INVALID_REQUEST);
        var clientName = OAuthJson.OptionalString(body, "client_name", OAuthErrorCode.OAUTH_INVALID_REQUEST);
        var redirectUri = OAuthJson.OptionalString(body, "redirect_uri", OAuthErrorCode.OAUTH_INVALID_REQUEST);
        var flow = await authorization.InitiateConnectionAsync(connectionId, clientName, redirectUri, clientIp, cancellationToken);
        OAuthResults.NoStore(req);
        return new JsonResult(new { authUrl = flow.AuthUrl.AbsoluteUri, connectionId = flow.ConnectionId, expiresAt = flow.ExpiresAt });
    }
}
