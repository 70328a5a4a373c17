using Neotoma.Core.Security;

namespace Neotoma.Tests.Security;

/// <summary>Key rotation without Key Vault: MCP_TOKEN_ENCRYPTION_PREVIOUS_KEYS keeps old rows readable.</summary>
public sealed class KeyRingTests
{
    private const string Old = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string New = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    [Fact]
    public void PreviousKey_StillDecrypts_AndSaysTheTextIsStale()
    {
        var stored = new TokenCipher(Old, "old").Encrypt("upstream-refresh-token");
        var rotated = new TokenCipher(KeyRing.FromHex(New, "new", [Old]));

        var decrypted = rotated.TryDecryptWithAge(stored);

        Assert.Equal(new Decrypted("upstream-refresh-token", Stale: true), decrypted);
        Assert.Equal(new Decrypted("x", Stale: false), rotated.TryDecryptWithAge(rotated.Encrypt("x")));
        Assert.Null(new TokenCipher(New, "new").TryDecrypt(stored));
    }

    [Fact]
    public void UnloadedRing_RefusesWithTheGuidesCode()
    {
        var ring = new KeyRing();
        ring.Fail("could not read secret 'k' in Key Vault https://v.vault.azure.net/ with ManagedIdentityCredential: access denied");

        var e = Assert.Throws<Neotoma.Core.Errors.OAuthException>(() => new TokenCipher(ring).Encrypt("x"));

        Assert.Equal(Neotoma.Core.Errors.OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING, e.Code);
        Assert.Contains("ManagedIdentityCredential", e.Message);
    }
}
