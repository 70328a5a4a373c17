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
    private static readonly HashSet<string> ConsentOnlyFields = ["csrf_token", "decision", "read_only", "form"];

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
        WebForms.RefuseOtherSites(req, options, OAuthErrorCode.OAUTH_CONSENT_INVALID, "This consent form was posted from another site. Go back to your MCP client and connect again.");

        var form = (await RequestBody.ReadFormAsync(req, cancellationToken)).ToArray();
        var fields = OAuthParameters.SingleValued(form);
        var request = await authorization.ValidateAsync(form.Where(f => !ConsentOnlyFields.Contains(f.Key)), clientIp, cancellationToken);
        var decision = fields.GetValueOrDefault("decision");
        if (fields.GetValueOrDefault("form") == "continue")
        {
            return OAuthResults.Redirect(req, await ContinueAsync(req, request, decision, fields.GetValueOrDefault("csrf_token"), clientIp, cancellationToken));
        }

        if (decision is not ("approve" or "deny"))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "decision must be approve or deny.");
        }

        var location = await authorization.DecideAsync(request, fields.GetValueOrDefault("csrf_token"),
            cookies.PostedConsentNonce(req), decision == "approve", readOnly: fields.ContainsKey("read_only"),
            browserBinding: cookies.NewBinding(req), clientIp, cancellationToken);
        return OAuthResults.Redirect(req, location);
    }

    /// <summary>
    /// The Continue form of a remembered approval: the form this browser was shown for this request
    /// and this signed-in person. Continue sends the code if the person still approves it; Cancel
    /// sends access_denied. Signed out, another person, or the approval forgotten or revoked since the
    /// page was shown: nothing is sent, and the client starts again (the person then sees the consent
    /// page with its permissions, never a sign-in that would store the approval again unseen).
    /// </summary>
    private async Task<Uri> ContinueAsync(HttpRequest req, AuthorizationRequest request, string? decision, string? csrf, string clientIp, CancellationToken cancellationToken)
    {
        var session = await cookies.SessionAsync(req, cancellationToken);
        authorization.RequireConsentForm(request, csrf, AuthorizationService.ContinueBinding(cookies.PostedConsentNonce(req), session?.UserId));
        switch (decision)
        {
            case "deny":
                return authorization.ErrorRedirect(request.RedirectUri, OAuthErrorCode.OAUTH_ACCESS_DENIED, "The user denied access.", request.State);
            case "continue" when await consents.CoversAsync(session!.UserId, request, cancellationToken):
                return await callbacks.CompleteRememberedAsync(request, session.UserId, session.SignInId, clientIp, cancellationToken);
            case "continue":
                throw new OAuthException(OAuthErrorCode.OAUTH_CONSENT_INVALID,
                    "This approval was forgotten or revoked since the page was shown; nothing was sent. Go back to your MCP client and connect again.");
            default:
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "decision must be continue or deny.");
        }
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
