using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Neotoma.Core.OAuth;
using Neotoma.Pages;

namespace Neotoma.Functions.Http;

/// <summary>How an <see cref="OAuthException"/> or a redirect is answered: JSON for a client, a page for a person.</summary>
internal static class OAuthResults
{
    /// <summary>RFC 6749 §5.2 JSON error with the guide's <c>error_code</c>; never cached.</summary>
    public static IActionResult Json(HttpRequest request, OAuthException e)
    {
        NoStore(request);
        RetryAfter(request, e);
        return new JsonResult(new Dictionary<string, object>
        {
            ["error"] = e.Info.Error,
            ["error_description"] = e.Message,
            ["error_code"] = e.Code.ToString(),
        })
        { StatusCode = e.Info.Status };
    }

    /// <summary>An error a person sees in the browser: what happened and what to do, never a redirect to an untrusted URI.</summary>
    public static IActionResult Page(HttpRequest request, OAuthException e)
    {
        RetryAfter(request, e);
        return PageResults.Show<ErrorPage>(new() { [nameof(ErrorPage.Error)] = e }, e.Info.Status);
    }

    /// <summary>A passing failure (an outage, a rate limit) says when to come back.</summary>
    public static void RetryAfter(HttpRequest request, OAuthException e)
    {
        if (e.RetryAfterSeconds is { } seconds)
        {
            request.HttpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Sends the browser on. A GET gets a 302. A POST from our consent form gets a page that moves
    /// on by itself instead: Chromium applies the form's <c>form-action 'self'</c> to every redirect
    /// that answers the submission, so a 302 to the upstream provider (or to a client's
    /// <c>cursor:</c> or loopback redirect URI) would be blocked, and the person left on the consent
    /// page. A listed <c>form-action</c> could not hold every origin an upstream provider may
    /// redirect through (federated sign-in, social providers), so the policy stays 'self'.
    /// </summary>
    public static IActionResult Redirect(HttpRequest request, Uri location)
    {
        NoStore(request);
        return HttpMethods.IsPost(request.Method)
            ? PageResults.Show<RedirectPage>(new() { [nameof(RedirectPage.Location)] = location })
            : new RedirectResult(location.AbsoluteUri, permanent: false);
    }

    public static void NoStore(HttpRequest request) => NoStore(request.HttpContext.Response.Headers);

    public static void NoStore(IHeaderDictionary headers)
    {
        headers.CacheControl = "no-store";
        headers.Pragma = "no-cache";
    }
}
