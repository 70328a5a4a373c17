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

    [Fact]
    public void DocumentHost_OfAnAsciiName_HasNoSecondForm()
    {
        var client = new ClientRecord("https://claude.ai:8443/oauth/client.json", "Claude", [], [], MetadataDocument: true);

        Assert.Equal("claude.ai:8443", client.DocumentHost);
        Assert.Null(client.DocumentHostUnicode);
    }
}
