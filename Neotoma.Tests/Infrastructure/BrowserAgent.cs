using System.Net;
using System.Text.RegularExpressions;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// Plays the user's browser through a sign-in: follows redirects, approves (or denies)
/// Neotoma's consent page, fills the provider's sign-in form, approves the provider's consent,
/// and stops at the MCP client's redirect URI, returning it with its query.
/// </summary>
public sealed partial class BrowserAgent : IDisposable
{
    private readonly HttpClient http;

    public BrowserAgent()
    {
        Cookies = new CookieContainer();
        http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, AllowAutoRedirect = false });
    }

    public CookieContainer Cookies { get; }

    /// <summary>Every page and redirect visited, for assertions and failure messages.</summary>
    public List<string> Visited { get; } = [];

    /// <summary>
    /// Follows a sign-in to the client's redirect URI as a person would. <paramref name="readOnly"/>
    /// ticks the consent page's "Read only" box.
    /// </summary>
    public async Task<Uri> SignInAsync(Uri authorizationUri, Uri clientRedirectUri, string login, bool approve = true, bool readOnly = false)
    {
        var current = authorizationUri;
        var response = await GetAsync(current);
        for (var step = 0; step < 25; step++)
        {
            var html = (int)response.StatusCode is >= 300 and < 400 ? "" : await response.Content.ReadAsStringAsync();
            if (NextLocation(response, html) is { } location)
            {
                var next = new Uri(current, location);
                if (next.GetLeftPart(UriPartial.Path) == clientRedirectUri.GetLeftPart(UriPartial.Path))
                {
                    Visited.Add(next.ToString());
                    return next;
                }

                current = next;
                response = await GetAsync(current);
                continue;
            }

            if (response.StatusCode != HttpStatusCode.OK)
            {
                throw new InvalidOperationException($"{(int)response.StatusCode} at {current}: {html}");
            }

            var (action, fields) = ParseForm(html);
            if (fields.ContainsKey("login"))
            {
                fields["login"] = login;
                fields["password"] = "any-password";
            }

            if (html.Contains("name=\"decision\""))
            {
                // A remembered approval asks only to continue.
                fields["decision"] = !approve ? "deny" : html.Contains("value=\"continue\"") ? "continue" : "approve";
                if (readOnly)
                {
                    fields["read_only"] = html.Contains("name=\"read_only\"") ? "1" : throw new InvalidOperationException("The consent page offers no read-only choice.");
                }
            }

            current = new Uri(current, action);
            Visited.Add("POST " + current);
            response = await http.PostAsync(current, new FormUrlEncodedContent(fields));
        }

        throw new InvalidOperationException("The sign-in did not reach the client's redirect URI: " + string.Join(" -> ", Visited));
    }

    /// <summary>A redirect, or a page that moves on by itself (Neotoma's answer to a consent form post), as a browser follows both.</summary>
    private static string? NextLocation(HttpResponseMessage response, string html) =>
        (int)response.StatusCode is >= 300 and < 400 ? response.Headers.Location?.OriginalString
        : RefreshPattern().Match(html) is { Success: true } refresh && RefreshUrlPattern().Match(WebUtility.HtmlDecode(refresh.Groups["content"].Value)) is { Success: true } url
            ? url.Groups["url"].Value
        : null;

    public Task<HttpResponseMessage> GetAsync(Uri uri)
    {
        Visited.Add(uri.ToString());
        return http.GetAsync(uri);
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request) => http.SendAsync(request);

    public Task<HttpResponseMessage> PostFormAsync(Uri uri, IEnumerable<KeyValuePair<string, string>> fields) =>
        http.PostAsync(uri, new FormUrlEncodedContent(fields));

    public static (string Action, Dictionary<string, string> Fields) ParseForm(string html)
    {
        var form = FormPattern().Match(html);
        if (!form.Success)
        {
            throw new InvalidOperationException("No form on the page: " + html);
        }

        var fields = new Dictionary<string, string>();
        foreach (Match input in InputPattern().Matches(form.Groups["body"].Value))
        {
            var name = Attribute(input.Value, "name");
            var unticked = Attribute(input.Value, "type") is "checkbox" or "radio" && !Regex.IsMatch(input.Value, @"\schecked[\s>]");
            if (name is not null && !unticked)
            {
                fields[name] = Attribute(input.Value, "value") ?? "";
            }
        }

        return (WebUtility.HtmlDecode(form.Groups["action"].Value), fields);
    }

    private static string? Attribute(string tag, string name)
    {
        var match = Regex.Match(tag, $"\\s{name}=\"(?<v>[^\"]*)\"");
        return match.Success ? WebUtility.HtmlDecode(match.Groups["v"].Value) : null;
    }

    [GeneratedRegex("<form[^>]*action=\"(?<action>[^\"]*)\"[^>]*>(?<body>.*?)</form>", RegexOptions.Singleline)]
    private static partial Regex FormPattern();

    /// <summary>The refresh tag; its content is HTML-encoded (Razor encodes every attribute value).</summary>
    [GeneratedRegex("<meta http-equiv=\"refresh\" content=\"(?<content>[^\"]*)\"\\s*/?>")]
    private static partial Regex RefreshPattern();

    [GeneratedRegex("^0; url='(?<url>[^']*)'$")]
    private static partial Regex RefreshUrlPattern();

    [GeneratedRegex("<input[^>]*>", RegexOptions.Singleline)]
    private static partial Regex InputPattern();

    public void Dispose() => http.Dispose();
}
