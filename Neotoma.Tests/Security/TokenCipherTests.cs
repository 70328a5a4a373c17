using Neotoma.Core.OAuth;
using Neotoma.Core.Security;

namespace Neotoma.Tests.Security;

/// <summary>Guide scenario 6 and security check 1: AES-256-GCM as iv:authTag:ciphertext (hex).</summary>
public sealed class TokenCipherTests
{
    private const string Key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    [Fact]
    public void RoundTrips_InTheGuidesFormat_WithAFreshIvEachTime()
    {
        var cipher = new TokenCipher(Key, "MCP_TOKEN_ENCRYPTION_KEY");

        var first = cipher.Encrypt("test-token-123");
        var second = cipher.Encrypt("test-token-123");

        Assert.Matches("^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$", first);
        Assert.NotEqual(first, second);
        Assert.Equal("test-token-123", cipher.TryDecrypt(first));
        Assert.DoesNotContain("test-token-123", first);
    }

    [Fact]
    public void TamperedTruncatedOrForeignText_DecryptsToNothing()
    {
        var cipher = new TokenCipher(Key, "MCP_TOKEN_ENCRYPTION_KEY");
        var stored = cipher.Encrypt("secret");

        Assert.Null(cipher.TryDecrypt(stored[..^2] + (stored[^1] == 'a' ? "bb" : "aa")));
        Assert.Null(cipher.TryDecrypt(stored[..20]));
        Assert.Null(cipher.TryDecrypt("zz:yy:xx"));
        Assert.Null(cipher.TryDecrypt(new TokenCipher(new string('1', 64), "k").Encrypt("secret")));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void MissingKey_IsEncryptionKeyMissing_WithTheGuidesFix(string? key)
    {
        var e = Assert.Throws<OAuthException>(() => new TokenCipher(key, "MCP_TOKEN_ENCRYPTION_KEY"));

        Assert.Equal(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING, e.Code);
        Assert.Contains("MCP_TOKEN_ENCRYPTION_KEY", e.Message);
        Assert.Contains("randomBytes(32).toString('hex')", e.Message);
    }

    [Theory]
    [InlineData("abc123", "6 characters")]
    [InlineData("00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg", "not hex")]
    [InlineData("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", "66 characters")]
    public void MalformedKey_IsEncryptionKeyInvalid_NamingWhatIsWrong(string key, string why)
    {
        var e = Assert.Throws<OAuthException>(() => new TokenCipher(key, "MCP_TOKEN_ENCRYPTION_KEY"));

        Assert.Equal(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_INVALID, e.Code);
        Assert.Contains(why, e.Message);
        Assert.DoesNotContain(key, e.Message);
    }
}
