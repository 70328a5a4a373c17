using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.OAuth;

namespace Neotoma.Functions.Http;

/// <summary>The one place an <see cref="OAuthException"/> becomes an HTTP response.</summary>
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
        return Html(request, e.Info.Status, "Neotoma could not connect",
            $"<p>{Encode(e.Message)}</p><p class=\"code\">Error code: <code>{e.Code}</code> ({Encode(e.Info.Error)})</p>" +
            "<p>See the troubleshooting guide in Neotoma's README for this code.</p>");
    }

    /// <summary>A passing outage says when to come back (a rate limit has set its own, more precise, value already).</summary>
    public static void RetryAfter(HttpRequest request, OAuthException e)
    {
        var headers = request.HttpContext.Response.Headers;
        if (e.Info.RetryAfterSeconds is { } seconds && headers.RetryAfter.Count == 0)
        {
            headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <param name="script">A same-origin script the page may run (the connections page's copy buttons); none otherwise.</param>
    public static IActionResult Html(HttpRequest request, int status, string title, string bodyHtml, string head = "", string? script = null)
    {
        NoStore(request);
        var headers = request.HttpContext.Response.Headers;
        headers.ContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'"
            + (script is null ? "" : "; script-src 'self'; connect-src 'none'");
        if (script is not null)
        {
            head += $"<script src=\"{Encode(script)}\" defer></script>";
        }

        headers.XFrameOptions = "DENY";
        if (request.HttpContext.RequestServices.GetService<OAuthServerOptions>() is { Issuer: var issuer } && issuer.StartsWith("https://", StringComparison.Ordinal))
        {
            // A browser that once reached a page over https never goes back to plain http here, where
            // a network attacker could answer for us (and plant cookies: see WebCookies).
            headers.StrictTransportSecurity = "max-age=31536000";
        }

        // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form
        // posts, and the consent endpoint checks Origin. Nothing goes to other origins either way.
        headers["Referrer-Policy"] = "same-origin";
        return new ContentResult
        {
            StatusCode = status,
            ContentType = "text/html; charset=utf-8",
            Content = $$"""
                <!doctype html>
                <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
                <title>{{Encode(title)}}</title><link rel="icon" href="data:,">{{head}}
                <style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5}
                button{font-size:1rem;padding:.5rem 1.25rem;margin-right:.5rem} .code{color:#555} code{overflow-wrap:anywhere}
                pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;white-space:pre-wrap;overflow-wrap:anywhere} ul.rows{padding:0;list-style:none}
                ul.rows>li{border-top:1px solid #ddd;padding:.5rem 0} form.inline{display:inline} label{display:block;margin:.25rem 0}</style></head>
                <body><h1>{{Encode(title)}}</h1>{{bodyHtml}}</body></html>
                """,
        };
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
        if (!HttpMethods.IsPost(request.Method))
        {
            return new RedirectResult(location.AbsoluteUri, permanent: false);
        }

        // A quote would end the refresh URL early; %27 is the same URL to every server.
        var target = Encode(location.AbsoluteUri.Replace("'", "%27", StringComparison.Ordinal));
        var where = location.Scheme is "http" or "https" ? location.Authority : location.Scheme + ":";
        return Html(request, StatusCodes.Status200OK, "Continuing…",
            $"<p>Taking you to <strong>{Encode(where)}</strong>.</p>" +
            $"<p>If nothing happens, <a id=\"continue\" href=\"{target}\">continue</a>.</p>",
            head: $"<meta http-equiv=\"refresh\" content=\"0; url='{target}'\">");
    }

    public static string Encode(string? text) => HtmlEncoder.Default.Encode(text ?? "");

    public static void NoStore(HttpRequest request)
    {
        request.HttpContext.Response.Headers.CacheControl = "no-store";
        request.HttpContext.Response.Headers.Pragma = "no-cache";
    }
}
