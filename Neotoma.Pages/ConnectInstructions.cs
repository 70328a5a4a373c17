using System.Text;
using System.Text.Json;
using Neotoma.Core.OAuth;

namespace Neotoma.Pages;

/// <summary>
/// The server URL and what each client's users expect. Install links follow each client's documented
/// format: Cursor's <c>cursor://anysphere.cursor-deeplink/mcp/install?name=…&amp;config=base64(json)</c>,
/// VS Code's <c>vscode:mcp/install?url-encoded(json)</c>.
/// </summary>
public sealed class ConnectInstructions(OAuthServerOptions options)
{
    public string Url => options.Resource;

    public string CursorLink =>
        "cursor://anysphere.cursor-deeplink/mcp/install?name=neotoma&config="
        + Uri.EscapeDataString(Convert.ToBase64String(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { url = Url }))));

    public string CursorJson => JsonSerializer.Serialize(new { mcpServers = new { neotoma = new { url = Url } } });

    public string VsCodeLink => "vscode:mcp/install?" + Uri.EscapeDataString(JsonSerializer.Serialize(new { name = "neotoma", type = "http", url = Url }));

    public string VsCodeJson => JsonSerializer.Serialize(new { servers = new { neotoma = new { type = "http", url = Url } } });

    public string ClaudeCode => $"claude mcp add --transport http neotoma {Url}";

    /// <summary>Claude.ai and ChatGPT connect from their own cloud: they cannot reach a server on this machine.</summary>
    public bool OnThisMachine => Uri.TryCreate(options.Issuer, UriKind.Absolute, out var issuer) && (issuer.IsLoopback || issuer.Host == "localhost");
}
