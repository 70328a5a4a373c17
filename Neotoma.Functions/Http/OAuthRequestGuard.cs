using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Functions.Http;

/// <summary>
/// The frame of every endpoint an OAuth client or a person's browser calls (the OAuth endpoints and
/// the person's pages): who is calling (client IP, through trusted proxies only),
/// whether they are over their limit (for the rate-limited ones), and how a failure is answered
/// (a page for a browser, JSON for a client, a redirect once the client's redirect URI is
/// trusted; a database that is down is 503 with Retry-After, never 500).
/// </summary>
public sealed class OAuthRequestGuard(RateLimiter limiter, ClientIpResolver clientIps)
{
    public async Task<IActionResult> HandleAsync(
        HttpRequest request, RateLimitedEndpoint? endpoint, bool browser, Func<string, Task<IActionResult>> handle, CancellationToken cancellationToken)
    {
        var ip = clientIps.Resolve(request);
        try
        {
            if (endpoint is { } limited)
            {
                await limiter.HitAsync(limited, ip, cancellationToken);
            }

            return await handle(ip);
        }
        catch (AuthorizationErrorRedirect e)
        {
            return OAuthResults.Redirect(request, e.Location);
        }
        catch (Exception e) when (DatabaseOutage.Known(e) is { } known)
        {
            // A rate limit is 429 with Retry-After, never 401: a 401 would send MCP clients into a sign-in loop.
            return Refuse(request, known, browser);
        }
    }

    private static IActionResult Refuse(HttpRequest request, OAuthException error, bool browser) =>
        browser ? OAuthResults.Page(request, error) : OAuthResults.Json(request, error);
}
