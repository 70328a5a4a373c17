using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Security;

/// <summary>RFC 6749 §3.1.2, RFC 8252 §7.3 (loopback port flexibility) and the guide's scheme whitelist.</summary>
public sealed class RedirectUriPolicyTests
{
    [Theory]
    [InlineData("cursor://anysphere.cursor-mcp/oauth/callback")]
    [InlineData("https://www.cursor.com/agents/mcp/oauth/callback")]
    [InlineData("http://localhost:8787/callback")]
    [InlineData("http://127.0.0.1:33418")]
    [InlineData("http://127.5.6.7/cb")]
    [InlineData("http://[::1]:9000/cb")]
    [InlineData("https://vscode.dev/redirect")]
    [InlineData("vscode://vscode.github-authentication/did-authenticate")]
    [InlineData("app://neotoma/callback")]
    public void Allows(string uri) => Assert.Null(RedirectUriPolicy.Validate(uri));

    [Theory]
    [InlineData("http://example.com/cb", "loopback")]
    [InlineData("http://localhost.evil.com/cb", "loopback")]
    [InlineData("http://128.0.0.1/cb", "loopback")]
    [InlineData("file:///etc/passwd", "protocol 'file'")]
    [InlineData("data:text/html,hi", "protocol 'data'")]
    [InlineData("/just/a/path", "absolute")]
    [InlineData("https://a.example/cb#x", "fragment")]
    [InlineData("https://a.example/c b", "whitespace")]
    [InlineData("", "empty")]
    public void Refuses(string uri, string reason) => Assert.Contains(reason, RedirectUriPolicy.Validate(uri));

    [Theory]
    [InlineData("http://127.0.0.1:8787/callback", "http://127.0.0.1:50000/callback", true)]
    [InlineData("http://localhost/callback", "http://localhost:3000/callback", true)]
    [InlineData("http://127.0.0.1:8787/callback", "http://127.0.0.1:8787/other", false)]
    [InlineData("http://127.0.0.1:8787/callback", "http://localhost:8787/callback", false)]
    [InlineData("https://app.example/cb", "https://app.example:8443/cb", false)]
    [InlineData("cursor://anysphere.cursor-mcp/oauth/callback", "cursor://anysphere.cursor-mcp/oauth/callback", true)]
    [InlineData("https://app.example/cb", "https://app.example/cb?x=1", false)]
    [InlineData("http://127.0.0.1:8787/callback", "http://127.0.0.1:50000/callback#frag", false)]
    [InlineData("http://127.0.0.1:8787/callback", "http://127.0.0.1:50000/callback#", false)]
    [InlineData("http://127.0.0.1:8787/callback", "http://user:pass@127.0.0.1:50000/callback", false)]
    [InlineData("http://localhost/callback", "http://evil@localhost:3000/callback", false)]
    public void Matches(string registered, string requested, bool expected) =>
        Assert.Equal(expected, RedirectUriPolicy.Matches(registered, requested));
}
