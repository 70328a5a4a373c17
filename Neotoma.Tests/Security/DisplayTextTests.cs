using Neotoma.Core.OAuth;
using Neotoma.Core.Security;

namespace Neotoma.Tests.Security;

/// <summary>What a person reads on the consent page is what it is: no look-alike hosts, no invisible formatting in names.</summary>
public sealed class DisplayTextTests
{
    [Theory]
    [InlineData("Cursor", true)]
    [InlineData("Visual Studio Code", true)]
    [InlineData("Zed — the editor", true)]
    [InlineData("日本語のクライアント", true)]
    [InlineData("Evil\u202E edoC SV", false)]
    [InlineData("a\u200Bb", false)]
    [InlineData("a\u200Db", false)]
    [InlineData("\u2067isolated\u2069", false)]
    [InlineData("tab\there", false)]
    [InlineData("para\u2029graph", false)]
    [InlineData("tag\U000E0041\U000E0042", false)]
    [InlineData("emoji \U0001F680 rocket", true)]
    public void Names_WithControlOrInvisibleFormatting_AreNotShowable(string name, bool showable) =>
        Assert.Equal(showable, DisplayText.IsShowable(name));

    /// <summary>сlaude.ai with a Cyrillic с (U+0441) is a different host from claude.ai: shown as punycode, its Unicode form only beside it.</summary>
    [Fact]
    public void DocumentHost_OfALookAlikeName_IsShownAsPunycode()
    {
        var client = new ClientRecord("https://\u0441laude.ai/oauth/client.json", "Claude", [], [], MetadataDocument: true);

        Assert.Equal("xn--laude-0ye.ai", client.DocumentHost);
        Assert.Equal("\u0441laude.ai", client.DocumentHostUnicode);
    }

    /// <summary>The redirect host on the consent and Continue pages is ASCII too, and a redirect URI with invisible formatting is refused.</summary>
    [Fact]
    public void RedirectHost_OfALookAlikeName_IsShownAsPunycode()
    {
        var request = new AuthorizationRequest(new ClientRecord("mcp_x", "Claude", [], []), "https://\u0441laude.ai:8443/callback", "c", null, "neotoma:read", "r");

        Assert.Equal("xn--laude-0ye.ai:8443", request.RedirectHost);
        Assert.NotNull(RedirectUriPolicy.Validate("https://example.com/cb\u202E"));
        Assert.Null(RedirectUriPolicy.Validate("https://example.com/cb"));
    }

    [Fact]
    public void DocumentHost_OfAnAsciiName_HasNoSecondForm()
    {
        var client = new ClientRecord("https://claude.ai:8443/oauth/client.json", "Claude", [], [], MetadataDocument: true);

        Assert.Equal("claude.ai:8443", client.DocumentHost);
        Assert.Null(client.DocumentHostUnicode);
    }
}
