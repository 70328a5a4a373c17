using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Neotoma.Core.Security;

namespace Neotoma.Functions.Http;

/// <summary>Who is calling (client IP, through trusted proxies only) and whether they are over their rate limit.</summary>
public sealed class OAuthRequestGuard(RateLimiter limiter, ClientIpResolver clientIps)
{
    public sealed record Entry(string ClientIp, IActionResult? Refusal);

    /// <summary>A refusal is 429 with Retry-After, never 401: a 401 would send MCP clients into a sign-in loop.</summary>
    public async Task<Entry> EnterAsync(HttpRequest request, RateLimitedEndpoint endpoint, bool browser, CancellationToken cancellationToken)
    {
        var ip = clientIps.Resolve(request);
        try
        {
            await limiter.HitAsync(endpoint, ip, cancellationToken);
            return new Entry(ip, null);
        }
        catch (RateLimitExceededException e)
        {
            request.HttpContext.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString();
            var error = e.ToOAuthException();
            return new Entry(ip, browser ? OAuthResults.Page(request, error) : OAuthResults.Json(request, error));
        }
    }
}
