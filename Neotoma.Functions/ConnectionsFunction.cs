using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;
using Neotoma.Functions.Http;
using Neotoma.Pages;

namespace Neotoma.Functions;

/// <summary>
/// The connections page: a signed-in person sees, creates and revokes their connections, forgets
/// remembered approvals and reads their recent activity. Server-rendered (Neotoma.Pages), works
/// without JavaScript; <c>/connections.js</c> only adds copy buttons.
/// </summary>
public sealed class ConnectionsFunction(
    ConnectionsService connections, WebSessions sessions, WebCookies cookies, OAuthServerOptions options, OAuthRequestGuard guard, TimeProvider timeProvider)
{
    [Function("Connections")]
    public Task<IActionResult> Page(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "connections")] HttpRequest req,
        CancellationToken cancellationToken) =>
        guard.HandleAsync(req, endpoint: null, browser: true, async _ =>
        {
            if (await cookies.SessionAsync(req, cancellationToken) is not { } session)
            {
                return PageResults.Show<SignedOutPage>(new() { [nameof(SignedOutPage.Options)] = options });
            }

            return PageResults.Show<ConnectionsPage>(new()
            {
                [nameof(ConnectionsPage.Session)] = session,
                [nameof(ConnectionsPage.Options)] = options,
                [nameof(ConnectionsPage.Connections)] = await connections.ListAsync(session.UserId, cancellationToken),
                [nameof(ConnectionsPage.Consents)] = await connections.ConsentsAsync(session.UserId, cancellationToken),
                [nameof(ConnectionsPage.Activity)] = await connections.AuditAsync(session.UserId, cancellationToken),
                [nameof(ConnectionsPage.Blocked)] = await connections.BlockedAsync(session.UserId, cancellationToken),
                [nameof(ConnectionsPage.Now)] = timeProvider.GetUtcNow(),
            });
        }, cancellationToken);

    [Function("ConnectionsRevoke")]
    public Task<IActionResult> Revoke(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "connections/revoke")] HttpRequest req,
        CancellationToken cancellationToken) =>
        FormAsync(req, async (session, fields, clientIp) => BackToThePageOr(
            await connections.RevokeAsync(session.UserId, OAuthParameters.Required(fields, "connection_id"), clientIp, cancellationToken),
            "You have no live connection with this id; nothing was changed."), cancellationToken);

    /// <summary>Revoke all: every connection, personal token, remembered approval and web session of the person (this one included).</summary>
    [Function("ConnectionsRevokeAll")]
    public Task<IActionResult> RevokeAll(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "connections/revoke-all")] HttpRequest req,
        CancellationToken cancellationToken) =>
        FormAsync(req, async (session, _, clientIp) =>
        {
            // Sessions first: a stolen one must not make anything new while the connections are revoked.
            await sessions.EndAllAsync(session.UserId, cancellationToken);
            cookies.EndSession(req);
            await connections.RevokeAllAsync(session.UserId, clientIp, cancellationToken);
            return new RedirectResult("/connections");
        }, cancellationToken);

    /// <summary>Allows a client the person blocked (by revoking its enterprise-granted access) to be granted access again.</summary>
    [Function("ConnectionsAllow")]
    public Task<IActionResult> Allow(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "connections/allow")] HttpRequest req,
        CancellationToken cancellationToken) =>
        FormAsync(req, async (session, fields, clientIp) => BackToThePageOr(
            await connections.AllowEnterpriseAsync(session.UserId, OAuthParameters.Required(fields, "client_id"), clientIp, cancellationToken),
            "You have not blocked this client; nothing was changed."), cancellationToken);

    [Function("ConnectionsForget")]
    public Task<IActionResult> Forget(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "connections/forget")] HttpRequest req,
        CancellationToken cancellationToken) =>
        FormAsync(req, async (session, fields, _) =>
        {
            await connections.ForgetConsentAsync(session.UserId, OAuthParameters.Required(fields, "client_id"),
                OAuthParameters.Required(fields, "redirect_uri"), cancellationToken);
            return new RedirectResult("/connections");
        }, cancellationToken);

    [Function("ConnectionsCreateToken")]
    public Task<IActionResult> CreateToken(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "connections/tokens")] HttpRequest req,
        CancellationToken cancellationToken) =>
        FormAsync(req, async (session, fields, clientIp) =>
        {
            var days = int.TryParse(fields.GetValueOrDefault("days"), out var parsed) ? parsed : 0;
            var token = await connections.CreatePersonalTokenAsync(session, fields.GetValueOrDefault("name") ?? "",
                readOnly: fields.ContainsKey("read_only"), days, clientIp, cancellationToken);
            return PageResults.Show<TokenCreatedPage>(new()
            {
                [nameof(TokenCreatedPage.Token)] = token,
                [nameof(TokenCreatedPage.Options)] = options,
                [nameof(TokenCreatedPage.Now)] = timeProvider.GetUtcNow(),
            });
        }, cancellationToken);

    /// <summary>Back to the page when the change was made; else what the person asked for was not there (OAUTH_CONNECTION_NOT_FOUND).</summary>
    private static IActionResult BackToThePageOr(bool changed, string nothingChanged) =>
        changed ? new RedirectResult("/connections") : throw new OAuthException(OAuthErrorCode.OAUTH_CONNECTION_NOT_FOUND, nothingChanged);

    /// <summary>A form post of this page: checked by <see cref="WebForms"/> before <paramref name="handle"/> runs.</summary>
    private Task<IActionResult> FormAsync(
        HttpRequest req, Func<WebSession, Dictionary<string, string>, string, Task<IActionResult>> handle, CancellationToken cancellationToken) =>
        guard.HandleAsync(req, endpoint: null, browser: true, async clientIp =>
        {
            var (session, fields) = await WebForms.ReadAsync(req, cookies, options, cancellationToken);
            return await handle(session, fields, clientIp);
        }, cancellationToken);
}
