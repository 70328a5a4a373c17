using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;
using Neotoma.Functions.Http;

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
                ? OAuthResults.Html(req, StatusCodes.Status200OK, "Connect to Neotoma?",
                    ConsentPage(request, authorization.ProtectConsent(request, nonce), options.InitiateEndpoint))
                : OAuthResults.Html(req, StatusCodes.Status200OK, "Continue to your MCP client?",
                    ContinuePage(request, authorization.ProtectConsent(request, AuthorizationService.ContinueBinding(nonce, remembered.UserId)!), options.InitiateEndpoint, remembered.UserId));
        }, cancellationToken);

    /// <summary>The request itself and the form's CSRF token, as hidden fields of the consent and continue forms.</summary>
    private static string RequestFields(AuthorizationRequest request, string csrf)
    {
        static string Hidden(string name, string? value) =>
            value is null ? "" : $"<input type=\"hidden\" name=\"{name}\" value=\"{OAuthResults.Encode(value)}\">";

        return $"""
            {Hidden("client_id", request.Client.ClientId)}{Hidden("redirect_uri", request.RedirectUri)}
            {Hidden("response_type", "code")}{Hidden("code_challenge", request.CodeChallenge)}{Hidden("code_challenge_method", "S256")}
            {Hidden("state", request.State)}{Hidden("scope", request.Scope)}{Hidden("resource", request.Resource)}{Hidden("csrf_token", csrf)}
            """;
    }

    /// <summary>The client's own name, isolated from the text around it (<c>bdi</c>), in bold.</summary>
    private static string ClientName(AuthorizationRequest request) =>
        $"<strong><bdi>{OAuthResults.Encode(request.Client.ClientName ?? "An unnamed MCP client")}</bdi></strong>";

    /// <summary>A remembered approval: one click on this origin, Continue or Cancel, and nothing happens before it.</summary>
    private static string ContinuePage(AuthorizationRequest request, string csrf, string initiateEndpoint, string userId)
    {
        var name = ClientName(request);
        var host = request.Client.DocumentHost is { } documentHost ? $" (described by <code>{OAuthResults.Encode(documentHost)}</code>)" : "";
        return $"""
            <p>You approved {name}{host} before. Continue to it as <strong>{OAuthResults.Encode(userId)}</strong>?</p>
            <p>You are sent back to <strong>{OAuthResults.Encode(request.RedirectHost)}</strong>.</p>
            <p class="code">Redirect URI: <code>{OAuthResults.Encode(request.RedirectUri)}</code></p>
            <p>Only continue if you started this connection yourself.</p>
            <form method="post" action="{OAuthResults.Encode(initiateEndpoint)}">
            {RequestFields(request, csrf)}<input type="hidden" name="form" value="continue">
            <button type="submit" name="decision" value="continue">Continue</button>
            <button type="submit" name="decision" value="deny">Cancel</button>
            </form>
            """;
    }

    private static string ConsentPage(AuthorizationRequest request, string csrf, string initiateEndpoint)
    {
        var name = ClientName(request);
        // The host first, as ASCII, and the name isolated: a name cannot reorder or pose as the host.
        var who = request.Client.DocumentHost is { } host
            ? $"<code>{OAuthResults.Encode(host)}</code>"
              + (request.Client.DocumentHostUnicode is { } unicode ? $" <span class=\"code\">(shown as <bdi>{OAuthResults.Encode(unicode)}</bdi>)</span>" : "")
              + $" describes a client named {name}. It"
            : name;
        var permissions = string.Concat(NeotomaScopes.Describe(request.Scope)
            .Select(p => $"<li>{OAuthResults.Encode(p.Allows)} <code>{p.Scope}</code></li>"));
        var readOnlyChoice = NeotomaScopes.Describe(request.Scope).Count() > 1
            ? """<p><label><input type="checkbox" name="read_only" value="1"> Read only: do not let this client change anything</label></p>"""
            : "";
        return $"""
            <p>{who} wants to use Neotoma as you, through MCP:</p>
            <ul>{permissions}</ul>
            <p>After you approve, you sign in with your identity provider, and then you are sent back to
            <strong>{OAuthResults.Encode(request.RedirectHost)}</strong>.</p>
            <p class="code">Redirect URI: <code>{OAuthResults.Encode(request.RedirectUri)}</code></p>
            <p>Only approve if you started this connection yourself.</p>
            <form method="post" action="{OAuthResults.Encode(initiateEndpoint)}">
            {RequestFields(request, csrf)}
            {readOnlyChoice}
            <button type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="deny">Deny</button>
            </form>
            """;
    }
}
