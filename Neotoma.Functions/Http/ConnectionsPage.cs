using System.Globalization;
using System.Text;
using System.Text.Json;
using Neotoma.Core.OAuth;
using Neotoma.Core.Web;

namespace Neotoma.Functions.Http;

/// <summary>The HTML of the connections page: plain server-rendered markup, every value encoded.</summary>
internal static class ConnectionsPage
{
    public const string ScriptPath = "/connections.js";

    public sealed record Model(WebSession Session, OAuthServerOptions Options, IReadOnlyList<ConnectionView> Connections,
        IReadOnlyList<ConsentView> Consents, IReadOnlyList<AuditView> Activity, DateTimeOffset Now);

    private static string E(string? text) => OAuthResults.Encode(text);

    private static string When(DateTimeOffset? at) => at is { } time ? time.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture) : "never";

    public static string SignedOut(OAuthServerOptions options) => $"""
        <p>Sign in to see the MCP clients connected to your Neotoma, connect a new one, or revoke one.</p>
        <p><a href="/signin"><strong>Sign in</strong></a></p>
        <p class="code">MCP server URL: <code>{E(options.Resource)}</code></p>
        """;

    public static string Render(Model page)
    {
        var csrf = Hidden("csrf_token", page.Session.CsrfToken);
        var html = new StringBuilder();
        html.Append($"""
            <p>Signed in as <strong id="user">{E(page.Session.UserId)}</strong>.</p>
            <form class="inline" method="post" action="/signout">{csrf}<button type="submit">Sign out</button><button type="submit" name="everywhere" value="1">Sign out everywhere</button></form>
            """);
        html.Append(ConnectPanel(page.Options));

        html.Append("<h2>Your connections</h2>");
        if (page.Connections.Count == 0)
        {
            html.Append("<p>No client is connected.</p>");
        }
        else
        {
            html.Append("<ul class=\"rows\" id=\"connections\">");
            foreach (var c in page.Connections)
            {
                var from = c.Origin != "personal" ? "OAuth client"
                    : c.ExpiresAt <= page.Now ? $"Personal token, expired {When(c.ExpiresAt)} (no longer accepted)"
                    : $"Personal token, expires {When(c.ExpiresAt)}";
                var redirect = c.RedirectUri is { } uri && Uri.TryCreate(uri, UriKind.Absolute, out var parsed)
                    ? (parsed.Scheme is "http" or "https" ? parsed.Authority : parsed.Scheme + ":") : "—";
                html.Append($"""
                    <li data-connection="{E(c.ConnectionId)}"><strong><bdi>{E(c.ClientName ?? "Unnamed client")}</bdi></strong>
                    <br><span class="code">client <code>{E(c.ClientId ?? "—")}</code> · returns to <code>{E(redirect)}</code> · scope <code>{E(c.Scope ?? "—")}</code></span>
                    <br><span class="code">{E(from)} · created {When(c.CreatedAt)} · last used {When(c.LastUsedAt)}</span>
                    <form method="post" action="/connections/revoke">{csrf}{Hidden("connection_id", c.ConnectionId)}<button type="submit">Revoke</button></form></li>
                    """);
            }

            html.Append("</ul>");
            html.Append($"""
                <form method="post" action="/connections/revoke-all">{csrf}<p>Lost a device, or not sure who has access?
                <button type="submit">Revoke all</button> ends every connection and personal token above, forgets every
                remembered approval and signs you out everywhere.</p></form>
                """);
        }

        html.Append("<h2>Remembered approvals</h2>");
        if (page.Consents.Count == 0)
        {
            html.Append("<p>None: every client asks you on its consent page.</p>");
        }
        else
        {
            html.Append("<p>While you are signed in here, these clients connect again with one click on Continue, without the consent page or a new sign-in.</p><ul class=\"rows\" id=\"consents\">");
            foreach (var k in page.Consents)
            {
                html.Append($"""
                    <li><strong><bdi>{E(k.ClientName ?? k.ClientId)}</bdi></strong> <span class="code">to <code>{E(k.RedirectUri)}</code>, scope <code>{E(k.Scope)}</code>, approved {When(k.ApprovedAt)}</span>
                    <form method="post" action="/connections/forget">{csrf}{Hidden("client_id", k.ClientId)}{Hidden("redirect_uri", k.RedirectUri)}<button type="submit">Forget</button></form></li>
                    """);
            }

            html.Append("</ul>");
        }

        html.Append($"""
            <h2>Personal access token</h2>
            <p>For a client that takes a header instead of signing in. The token is shown once.</p>
            <form method="post" action="/connections/tokens">{csrf}
            <label>Name <input name="name" required maxlength="{ClientRegistrationService.MaxClientNameLength}" autocomplete="off"></label>
            <label>Days until it expires <input name="days" type="number" min="1" max="{(int)page.Options.PersonalTokenMaxLifetime.TotalDays}" value="{Math.Min(30, (int)page.Options.PersonalTokenMaxLifetime.TotalDays)}" required></label>
            <label><input type="checkbox" name="read_only" value="1"> Read only</label>
            <button type="submit">Create token</button></form>
            """);

        html.Append($"<h2>Recent activity</h2><p class=\"code\">The last {ConnectionsService.AuditRows} events, newest first.</p><ul class=\"rows\" id=\"activity\">");
        foreach (var a in page.Activity)
        {
            html.Append($"<li><span class=\"code\">{When(a.At)}</span> {E(a.Event)}{(a.Success ? "" : $" (failed: {E(a.ErrorCode)})")}" +
                        $"{(a.ClientId is null ? "" : $" · <code>{E(a.ClientId)}</code>")}{(a.ClientIp is null ? "" : $" · from {E(a.ClientIp)}")}</li>");
        }

        html.Append("</ul>");
        return html.ToString();
    }

    /// <summary>
    /// The server URL and what each client's users expect. Install links follow each client's
    /// documented format: Cursor's <c>cursor://anysphere.cursor-deeplink/mcp/install?name=…&amp;config=base64(json)</c>,
    /// VS Code's <c>vscode:mcp/install?url-encoded(json)</c>.
    /// </summary>
    private static string ConnectPanel(OAuthServerOptions options)
    {
        var url = options.Resource;
        var cursorConfig = Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { url })));
        var cursorLink = $"cursor://anysphere.cursor-deeplink/mcp/install?name=neotoma&config={Uri.EscapeDataString(cursorConfig)}";
        var vscodeLink = "vscode:mcp/install?" + Uri.EscapeDataString(JsonSerializer.Serialize(new { name = "neotoma", type = "http", url }));
        var loopback = Uri.TryCreate(options.Issuer, UriKind.Absolute, out var issuer) && (issuer.IsLoopback || issuer.Host == "localhost");
        var cloud = loopback
            ? "<p><strong>Claude.ai and ChatGPT</strong> connect from their own cloud: they need this server at a public <code>https://</code> address, which this one (on your machine) is not.</p>"
            : $"<p><strong>Claude.ai</strong>: Settings → Connectors → Add custom connector → the URL above. <strong>ChatGPT</strong>: Settings → Connectors → Create → the URL above, authentication OAuth.</p>";
        return $"""
            <h2>Connect a client</h2>
            <p>The MCP server URL is all a client needs:</p>
            <pre data-copy id="mcp-url">{E(url)}</pre>
            <p><strong>Cursor</strong>: <a href="{E(cursorLink)}">Add to Cursor</a>, or in <code>.cursor/mcp.json</code>:</p>
            <pre data-copy>{E(JsonSerializer.Serialize(new { mcpServers = new { neotoma = new { url } } }))}</pre>
            <p><strong>VS Code</strong>: <a href="{E(vscodeLink)}">Install in VS Code</a>, or in <code>.vscode/mcp.json</code>:</p>
            <pre data-copy>{E(JsonSerializer.Serialize(new { servers = new { neotoma = new { type = "http", url } } }))}</pre>
            <p><strong>Claude Code</strong>:</p>
            <pre data-copy>claude mcp add --transport http neotoma {E(url)}</pre>
            {cloud}
            """;
    }

    public static string TokenCreated(PersonalToken token, OAuthServerOptions options) => $"""
        <p>Copy it now: it is not shown again, and Neotoma keeps only its hash. It allows <code>{E(token.Scope)}</code> until {When(token.ExpiresAt)}.</p>
        <pre data-copy id="token">{E(token.Token)}</pre>
        <p>For example, with Claude Code:</p>
        <pre data-copy>claude mcp add --transport http neotoma {E(options.Resource)} --header "Authorization: Bearer {E(token.Token)}"</pre>
        <p><a href="/connections">Back to your connections</a></p>
        """;

    private static string Hidden(string name, string value) => $"<input type=\"hidden\" name=\"{name}\" value=\"{E(value)}\">";

    /// <summary>Copy buttons beside every <c>pre[data-copy]</c>; the page works without it.</summary>
    public const string Script = """
        document.querySelectorAll('pre[data-copy]').forEach((block) => {
          const button = document.createElement('button');
          button.type = 'button';
          button.textContent = 'Copy';
          button.addEventListener('click', async () => {
            try {
              await navigator.clipboard.writeText(block.textContent);
              button.textContent = 'Copied';
            } catch {
              button.textContent = 'Select the text to copy';
            }
          });
          block.after(button);
        });
        """;
}
