using Microsoft.AspNetCore.Http;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Functions.Http;

/// <summary>
/// A form post of the connections page: from this origin (the browser's Origin, when it sends one),
/// by a signed-in browser, carrying that session's CSRF token. Anything else changes nothing.
/// </summary>
internal static class WebForms
{
    /// <summary>
    /// Browsers send Origin with every form post (our pages' Referrer-Policy same-origin keeps it the
    /// real origin, not "null"); a post from any other site is refused before anything else.
    /// </summary>
    /// <param name="code">The refusing step's own code: the consent form's, or the connections page's.</param>
    public static void RefuseOtherSites(HttpRequest req, OAuthServerOptions options, OAuthErrorCode code, string refusal)
    {
        if (req.Headers.Origin is { Count: > 0 } origin && !string.Equals(origin.ToString(), options.Issuer, StringComparison.OrdinalIgnoreCase))
        {
            throw new OAuthException(code, refusal);
        }
    }

    public static async Task<(WebSession Session, Dictionary<string, string> Fields)> ReadAsync(
        HttpRequest req, WebCookies cookies, OAuthServerOptions options, CancellationToken cancellationToken)
    {
        RefuseOtherSites(req, options, OAuthErrorCode.OAUTH_FORM_FROM_OTHER_SITE, "This form was posted from another site; nothing was changed.");

        var session = await cookies.SessionAsync(req, cancellationToken)
            ?? throw new OAuthException(OAuthErrorCode.OAUTH_WEB_SESSION_ENDED, "You are signed out (or your session ended); nothing was changed. Open the connections page and sign in again.");
        var fields = OAuthParameters.SingleValued(await RequestBody.ReadFormAsync(req, cancellationToken));
        if (!WebSessions.IsValidCsrf(session, fields.GetValueOrDefault("csrf_token")))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_FORM_EXPIRED, "This form has expired or did not come from this page; nothing was changed. Reload the page and try again.");
        }

        return (session, fields);
    }
}
