using Microsoft.AspNetCore.Http;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Functions.Http;

/// <summary>
/// The browser cookies of the person's side. The session cookie is HttpOnly, SameSite=Lax (so a
/// client opening /authorize in the browser still carries it), and on https Secure with the
/// <c>__Host-</c> prefix. The sign-in binding cookie ties a sign-in to the browser that started it
/// and is sent only to the callback.
/// </summary>
public sealed class WebCookies(OAuthServerOptions options, WebSessions sessions)
{
    public const string BindingCookie = "neotoma_signin";

    private bool Https => options.Issuer.StartsWith("https://", StringComparison.Ordinal);

    public string SessionCookie => Https ? "__Host-neotoma_session" : "neotoma_session";

    public Task<WebSession?> SessionAsync(HttpRequest request, CancellationToken cancellationToken) =>
        sessions.FindAsync(request.Cookies[SessionCookie], cancellationToken);

    public async Task StartSessionAsync(HttpRequest request, string userId, CancellationToken cancellationToken)
    {
        var value = await sessions.StartAsync(userId, cancellationToken);
        request.HttpContext.Response.Cookies.Append(SessionCookie, value, new CookieOptions
        {
            HttpOnly = true,
            Secure = Https,
            SameSite = SameSiteMode.Lax,
            Path = "/",
        });
    }

    public void EndSession(HttpRequest request) =>
        request.HttpContext.Response.Cookies.Delete(SessionCookie, new CookieOptions { Secure = Https, Path = "/", SameSite = SameSiteMode.Lax });

    /// <summary>A new binding secret, set in this browser for the callback; its hash goes with the state.</summary>
    public string NewBinding(HttpRequest request)
    {
        var value = Core.Security.OpaqueToken.New(32);
        request.HttpContext.Response.Cookies.Append(BindingCookie, value, new CookieOptions
        {
            HttpOnly = true,
            Secure = Https,
            SameSite = SameSiteMode.Lax,
            Path = "/api/mcp/oauth/callback",
            MaxAge = options.StateLifetime,
        });
        return value;
    }

    public string? Binding(HttpRequest request) => request.Cookies[BindingCookie];

    public void ClearBinding(HttpRequest request) =>
        request.HttpContext.Response.Cookies.Delete(BindingCookie, new CookieOptions { Secure = Https, Path = "/api/mcp/oauth/callback" });
}
