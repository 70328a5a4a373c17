using System.Security.Cryptography;
using System.Text;
using Neotoma.Core.OAuth;

namespace Neotoma.Core.Security;

/// <summary>
/// AES-256-GCM for upstream refresh tokens at rest. The stored text is
/// <c>iv:authTag:ciphertext</c> in lower-case hex, the format the troubleshooting guide checks.
/// </summary>
public sealed class TokenCipher
{
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private readonly byte[] key;

    public TokenCipher(string? hexKey, string settingName)
    {
        if (string.IsNullOrWhiteSpace(hexKey))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING,
                $"OAUTH_ENCRYPTION_KEY_MISSING: {settingName} is not set. Generate 32 random bytes as 64 hex characters, " +
                "e.g. node -e \"console.log(require('crypto').randomBytes(32).toString('hex'))\" or openssl rand -hex 32.");
        }

        key = ParseKey(hexKey.Trim(), settingName);
    }

    public string Encrypt(string plaintext)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var cipher = new byte[plain.Length];
        var tag = new byte[TagSize];
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plain, cipher, tag);
        return $"{Convert.ToHexStringLower(nonce)}:{Convert.ToHexStringLower(tag)}:{Convert.ToHexStringLower(cipher)}";
    }

    /// <summary>Null when the text is not ours to read: malformed, tampered with, or made with another key.</summary>
    public string? TryDecrypt(string stored)
    {
        var parts = stored.Split(':');
        if (parts.Length != 3)
        {
            return null;
        }

        try
        {
            var nonce = Convert.FromHexString(parts[0]);
            var tag = Convert.FromHexString(parts[1]);
            var cipher = Convert.FromHexString(parts[2]);
            if (nonce.Length != NonceSize || tag.Length != TagSize)
            {
                return null;
            }

            var plain = new byte[cipher.Length];
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(nonce, cipher, tag, plain);
            return Encoding.UTF8.GetString(plain);
        }
        catch (Exception e) when (e is FormatException or AuthenticationTagMismatchException or CryptographicException)
        {
            return null;
        }
    }

    /// <summary>A key for another purpose (e.g. consent CSRF tokens), derived so it never equals the encryption key.</summary>
    public byte[] DeriveKey(string purpose) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, key, 32, info: Encoding.UTF8.GetBytes(purpose));

    private static byte[] ParseKey(string hex, string settingName)
    {
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_INVALID,
                $"OAUTH_ENCRYPTION_KEY_INVALID: {settingName} must be exactly 64 hex characters (32 bytes); it has {hex.Length} characters" +
                (hex.All(Uri.IsHexDigit) ? "." : " and contains characters that are not hex digits."));
        }

        return Convert.FromHexString(hex);
    }
}
