using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.OAuth;
using Neotoma.Pages;

namespace Neotoma.Functions.Http;

/// <summary>
/// A page of <c>Neotoma.Pages</c> as the answer to a request: rendered when the result runs, under its
/// Content-Security-Policy, never cached, never framed.
/// </summary>
internal sealed class PageResult<TPage>(int status, IReadOnlyDictionary<string, object?> parameters) : IActionResult
    where TPage : IComponent
{
    public async Task ExecuteResultAsync(ActionContext context)
    {
        var http = context.HttpContext;
        var page = await PageRenderer.RenderAsync<TPage>(http.RequestServices, parameters);
        var headers = http.Response.Headers;
        OAuthResults.NoStore(headers);
        headers.ContentSecurityPolicy = page.ContentSecurityPolicy;
        headers.XFrameOptions = "DENY";
        headers.XContentTypeOptions = "nosniff";
        if (http.RequestServices.GetService<OAuthServerOptions>() is { IsHttps: true })
        {
            // A browser that once reached a page over https never goes back to plain http here, where
            // a network attacker could answer for us (and plant cookies: see WebCookies).
            headers.StrictTransportSecurity = "max-age=31536000";
        }

        // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form
        // posts, and the consent endpoint checks Origin. Nothing goes to other origins either way.
        headers["Referrer-Policy"] = "same-origin";
        http.Response.StatusCode = status;
        http.Response.ContentType = "text/html; charset=utf-8";
        await http.Response.WriteAsync(page.Html, http.RequestAborted);
    }
}

/// <summary>Builds <see cref="PageResult{TPage}"/>s: <c>PageResults.Show&lt;ConsentPage&gt;(new() { [nameof(ConsentPage.Request)] = … })</c>.</summary>
internal static class PageResults
{
    public static IActionResult Show<TPage>(Dictionary<string, object?> parameters, int status = StatusCodes.Status200OK)
        where TPage : IComponent => new PageResult<TPage>(status, parameters);
}
