using Neotoma.Core.Security;
using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Security;

/// <summary>RFC 7636.</summary>
public sealed class PkceTests
{
    [Fact]
    public void S256_IsBase64UrlOfSha256WithoutPadding()
    {
        // Computed independently: base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b'=').
        const string verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";
        const string challenge = "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc";

        Assert.Equal(challenge, Pkce.Challenge(verifier));
        Assert.True(Pkce.Verify(verifier, challenge));
        Assert.True(Pkce.IsValidChallenge(challenge));
    }

    [Theory]
    [InlineData("short")]
    [InlineData("dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjX!")]
    public void Verify_RefusesMalformedVerifiers(string verifier) =>
        Assert.False(Pkce.Verify(verifier, "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"));

    [Fact]
    public void Verify_RefusesAnotherVerifier() =>
        Assert.False(Pkce.Verify(new string('a', 43), "ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc"));
}
