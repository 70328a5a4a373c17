using Microsoft.AspNetCore.Http;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Functions.Http;

/// <summary>
/// The browser cookies of the person's side, all HttpOnly and on https Secure with the
/// <c>__Host-</c> prefix (so neither a sibling subdomain nor a network attacker on plain http can
/// plant or overwrite one: a browser accepts a <c>__Host-</c> cookie only from this host over https,
/// with <c>Path=/</c> and no Domain). The session cookie is SameSite=Lax (so a client opening
/// /authorize in the browser still carries it). The sign-in binding cookie ties a sign-in to the
/// browser that started it. The consent cookie ties a consent or continue form to the browser it
/// was shown in, and is SameSite=Strict.
/// </summary>
public sealed class WebCookies(OAuthServerOptions options, WebSessions sessions)
{
    private bool Https => options.IsHttps;

    private string Named(string name) => Https ? "__Host-" + name : name;

    public string SessionCookie => Named("neotoma_session");

    public string BindingCookie => Named("neotoma_signin");

    public string ConsentCookie => Named("neotoma_consent");

    public Task<WebSession?> SessionAsync(HttpRequest request, CancellationToken cancellationToken) =>
        sessions.FindAsync(request.Cookies[SessionCookie], cancellationToken);

    public async Task StartSessionAsync(HttpRequest request, string userId, string signInId, CancellationToken cancellationToken)
    {
        var value = await sessions.StartAsync(userId, signInId, cancellationToken);
        request.HttpContext.Response.Cookies.Append(SessionCookie, value, Options(SameSiteMode.Lax));
    }

    public void EndSession(HttpRequest request) =>
        request.HttpContext.Response.Cookies.Delete(SessionCookie, Options(SameSiteMode.Lax));

    /// <summary>A new binding secret, set in this browser for the callback; its hash goes with the state.</summary>
    public string NewBinding(HttpRequest request)
    {
        var value = Core.Security.OpaqueToken.New(32);
        request.HttpContext.Response.Cookies.Append(BindingCookie, value, Options(SameSiteMode.Lax, options.StateLifetime));
        return value;
    }

    public string? Binding(HttpRequest request) => request.Cookies[BindingCookie];

    public void ClearBinding(HttpRequest request) =>
        request.HttpContext.Response.Cookies.Delete(BindingCookie, Options(SameSiteMode.Lax));

    /// <summary>This browser's consent secret: the one it has (so two open consent pages both stay valid), or a new one, set for ten minutes.</summary>
    public string ConsentNonce(HttpRequest request)
    {
        var nonce = request.Cookies[ConsentCookie] is { Length: 43 } existing ? existing : Core.Security.OpaqueToken.New(32);
        request.HttpContext.Response.Cookies.Append(ConsentCookie, nonce, Options(SameSiteMode.Strict, TimeSpan.FromMinutes(10)));
        return nonce;
    }

    /// <summary>The consent secret a form post came with, if any.</summary>
    public string? PostedConsentNonce(HttpRequest request) => request.Cookies[ConsentCookie];

    private CookieOptions Options(SameSiteMode sameSite, TimeSpan? maxAge = null) => new()
    {
        HttpOnly = true,
        Secure = Https,
        SameSite = sameSite,
        Path = "/",
        MaxAge = maxAge,
    };
}
