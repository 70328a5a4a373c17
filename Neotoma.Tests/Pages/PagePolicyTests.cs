using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Neotoma.Pages;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Pages;

/// <summary>
/// Every page a person can meet, at the protocol level: served under a Content-Security-Policy without
/// <c>'unsafe-inline'</c>, styled only by the same-origin stylesheet, running only the same-origin copy
/// script (and only where the policy allows it), and showing what a client chose to call itself as text.
/// </summary>
public sealed partial class PagePolicyTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    /// <summary>A client name that would run and restyle the page if any value went out unencoded.</summary>
    private const string Markup = "<script>alert(1)</script><b style=\"color:red\">Bold</b>";

    private const string Encoded = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b style=&quot;color:red&quot;&gt;Bold&lt;/b&gt;";

    [Fact]
    public async Task EveryPage_HasAPolicyWithoutUnsafeInline_TheSameOriginStylesheet_AndEncodedNames()
    {
        var pages = new List<(string Page, HttpResponseMessage Response, bool ShowsTheName)>();
        var client = await fixture.RegisterAsync(name: Markup);
        using var person = new BrowserAgent();

        pages.Add(("signed-out connections page", await person.GetAsync(new Uri(fixture.Issuer + "/connections")), false));
        pages.Add(("consent page", await person.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge)), true));
        pages.Add(("error page", await person.GetAsync(fixture.AuthorizeUrl(new OAuthFixture.RegisteredClient("mcp_unknown", client.RedirectUri), "x")), false));

        // Approving signs this browser in and remembers the approval: the next authorization asks only to continue.
        await person.SignInAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge), client.RedirectUri, "pages-amy");
        var continuePage = await person.GetAsync(fixture.AuthorizeUrl(client, OAuthFixture.NewPkce().Challenge));
        pages.Add(("Continue page", continuePage, true));
        var (action, fields) = BrowserAgent.ParseForm(await continuePage.Content.ReadAsStringAsync());
        fields["decision"] = "continue";
        pages.Add(("redirect page after a form post", await person.PostFormAsync(new Uri(new Uri(fixture.Issuer), action), fields), false));

        var connections = await person.GetAsync(new Uri(fixture.Issuer + "/connections"));
        pages.Add(("connections page", connections, true));
        var csrf = BrowserAgent.ParseForm(await connections.Content.ReadAsStringAsync()).Fields["csrf_token"];
        pages.Add(("new personal token page", await person.PostFormAsync(new Uri(fixture.Issuer + "/connections/tokens"),
            new Dictionary<string, string> { ["name"] = Markup, ["days"] = "7", ["csrf_token"] = csrf }), false));
        pages.Add(("connections page with a personal token", await person.GetAsync(new Uri(fixture.Issuer + "/connections")), true));

        Assert.Equal(HttpStatusCode.Redirect, (await person.PostFormAsync(new Uri(fixture.Issuer + "/signout"), new Dictionary<string, string> { ["csrf_token"] = csrf })).StatusCode);
        pages.Add(("session-ended page", await person.PostFormAsync(new Uri(fixture.Issuer + "/connections/revoke"),
            new Dictionary<string, string> { ["connection_id"] = "conn_x", ["csrf_token"] = csrf }), false));

        // A connection started from JSON (no client redirect) ends on Neotoma's own page.
        using var initiated = await fixture.Server.Client.PostAsync("/api/mcp/oauth/initiate",
            new StringContent(JsonSerializer.Serialize(new { client_name = Markup }), System.Text.Encoding.UTF8, "application/json"));
        var authUrl = new Uri(JsonDocument.Parse(await initiated.Content.ReadAsStringAsync()).RootElement.GetProperty("authUrl").GetString()!);
        using var jsonPerson = new BrowserAgent();
        var callback = await jsonPerson.SignInAsync(authUrl, new Uri(fixture.Issuer + "/api/mcp/oauth/callback"), "pages-bo");
        pages.Add(("connection-created page", await jsonPerson.GetAsync(callback), true));

        foreach (var (page, response, showsTheName) in pages)
        {
            var html = await response.Content.ReadAsStringAsync();
            var policy = Assert.Single(response.Headers.GetValues("Content-Security-Policy"));
            Assert.True(response.Content.Headers.ContentType?.MediaType == "text/html", $"{page}: {response.Content.Headers.ContentType}");
            Assert.True(html.StartsWith("<!DOCTYPE html>", StringComparison.Ordinal), $"{page} has no doctype");
            Assert.DoesNotContain("unsafe-inline", policy);
            Assert.DoesNotContain("unsafe-eval", policy);
            Assert.StartsWith("default-src 'none'; style-src 'self';", policy);
            Assert.Contains("frame-ancestors 'none'", policy);
            Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
            Assert.Contains($"<link rel=\"stylesheet\" href=\"/neotoma.css?v={StaticAsset.Stylesheet.Version}\"", html);
            Assert.DoesNotMatch(InlineStyle(), html);
            Assert.DoesNotContain("<script>", html);

            // The only script is the copy buttons, where the policy allows this origin's scripts; elsewhere none runs.
            var scripts = ScriptTag().Matches(html).Select(m => m.Value).ToList();
            if (policy.Contains("script-src", StringComparison.Ordinal))
            {
                Assert.Contains("script-src 'self'", policy);
                Assert.Equal([$"<script src=\"/connections.js?v={StaticAsset.CopyScript.Version}\" defer></script>"], scripts);
            }
            else
            {
                Assert.Empty(scripts);
            }

            if (showsTheName)
            {
                Assert.True(html.Contains(Encoded, StringComparison.Ordinal), $"{page} does not show the client's name as text:\n{html}");
            }
        }
    }

    [Theory]
    [InlineData("/neotoma.css", "text/css")]
    [InlineData("/connections.js", "text/javascript")]
    public async Task Asset_IsKeptForAYearAtItsHashedAddress_AndRevalidatedByETagElsewhere(string path, string mediaType)
    {
        var asset = path == "/neotoma.css" ? StaticAsset.Stylesheet : StaticAsset.CopyScript;

        using var hashed = await fixture.Server.Client.GetAsync(asset.Href);
        using var plain = await fixture.Server.Client.GetAsync(path);
        using var revalidation = new HttpRequestMessage(HttpMethod.Get, path);
        revalidation.Headers.IfNoneMatch.Add(new System.Net.Http.Headers.EntityTagHeaderValue(asset.ETag));
        using var unchanged = await fixture.Server.Client.SendAsync(revalidation);

        Assert.Equal(HttpStatusCode.OK, hashed.StatusCode);
        Assert.Equal(mediaType, hashed.Content.Headers.ContentType?.MediaType);
        Assert.Equal(asset.Content, await hashed.Content.ReadAsByteArrayAsync());
        Assert.Equal("public, max-age=31536000, immutable", hashed.Headers.CacheControl?.ToString());
        Assert.Equal("nosniff", Assert.Single(hashed.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal(asset.ETag, hashed.Headers.ETag?.ToString());
        Assert.Equal("public, no-cache", plain.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.NotModified, unchanged.StatusCode);
        Assert.Empty(await unchanged.Content.ReadAsByteArrayAsync());
    }

    [GeneratedRegex(@"<style|<[^<>]*\sstyle=", RegexOptions.IgnoreCase)]
    private static partial Regex InlineStyle();

    [GeneratedRegex("<script[^>]*>.*?</script>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex ScriptTag();
}
