using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Web;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

/// <summary>
/// Sign-in and sign-out of the connections page. Sign-in goes through the same upstream provider
/// and the same callback as an MCP client's (no new redirect URI to register upstream); the state
/// row says it is a web sign-in, and only the browser that started it may finish it.
/// </summary>
public sealed class SignInFunction(
    AuthorizationService authorization, WebCookies cookies, WebSessions sessions, AuditLog audit, OAuthServerOptions options, OAuthRequestGuard guard)
{
    [Function("SignIn")]
    public Task<IActionResult> SignIn(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "signin")] HttpRequest req,
        CancellationToken cancellationToken) =>
        guard.HandleAsync(req, RateLimitedEndpoint.Initiate, browser: true, async clientIp =>
            OAuthResults.Redirect(req, await authorization.InitiateWebSignInAsync(cookies.NewBinding(req), clientIp, cancellationToken)),
            cancellationToken);

    [Function("SignOut")]
    public Task<IActionResult> SignOut(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "signout")] HttpRequest req,
        CancellationToken cancellationToken) =>
        guard.HandleAsync(req, endpoint: null, browser: true, async clientIp =>
        {
            var (session, fields) = await WebForms.ReadAsync(req, cookies, options, cancellationToken);
            if (fields.GetValueOrDefault("everywhere") == "1")
            {
                await sessions.EndAllAsync(session.UserId, cancellationToken);
                await audit.WriteAsync(new AuditEntry(AuditEvents.SignedOutEverywhere, UserId: session.UserId, ClientIp: clientIp), cancellationToken);
            }
            else
            {
                await sessions.EndAsync(session, cancellationToken);
            }

            cookies.EndSession(req);
            return new RedirectResult("/connections");
        }, cancellationToken);
}
