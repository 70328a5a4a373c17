using System.Security.Cryptography;
using System.Text;

namespace Neotoma.Core.Security;

/// <summary>What a stored text decrypted to, and whether it was made with a previous key (and should be re-encrypted).</summary>
public sealed record Decrypted(string Plaintext, bool Stale);

/// <summary>
/// AES-256-GCM for upstream tokens at rest. The stored text is <c>iv:authTag:ciphertext</c> in
/// lower-case hex, the format the troubleshooting guide checks. There is no key marker: the
/// authentication tag tells which key fits, and trying the few previous keys costs microseconds.
/// </summary>
public sealed class TokenCipher(KeyRing keys)
{
    private const int NonceSize = 12;
    private const int TagSize = 16;

    /// <summary>A cipher over one key given as hex (tests, tools).</summary>
    public TokenCipher(string? hexKey, string settingName) : this(KeyRing.FromHex(hexKey, settingName))
    {
    }

    public KeyRing Keys => keys;

    public string Encrypt(string plaintext)
    {
        var nonce = RandomNumberGenerator.GetBytes(NonceSize);
        var plain = Encoding.UTF8.GetBytes(plaintext);
        var cipher = new byte[plain.Length];
        var tag = new byte[TagSize];
        using var aes = new AesGcm(keys.Get().Current, TagSize);
        aes.Encrypt(nonce, plain, cipher, tag);
        return $"{Convert.ToHexStringLower(nonce)}:{Convert.ToHexStringLower(tag)}:{Convert.ToHexStringLower(cipher)}";
    }

    /// <summary>Null when the text is not ours to read: malformed, tampered with, or made with a key we no longer hold.</summary>
    public string? TryDecrypt(string stored) => TryDecryptWithAge(stored)?.Plaintext;

    public Decrypted? TryDecryptWithAge(string stored)
    {
        var parts = stored.Split(':');
        if (parts.Length != 3)
        {
            return null;
        }

        byte[] nonce, tag, cipher;
        try
        {
            nonce = Convert.FromHexString(parts[0]);
            tag = Convert.FromHexString(parts[1]);
            cipher = Convert.FromHexString(parts[2]);
        }
        catch (FormatException)
        {
            return null;
        }

        if (nonce.Length != NonceSize || tag.Length != TagSize)
        {
            return null;
        }

        var ring = keys.Get();
        var plain = new byte[cipher.Length];
        foreach (var (key, stale) in ring.Previous.Select(k => (k, true)).Prepend((ring.Current, false)))
        {
            try
            {
                using var aes = new AesGcm(key, TagSize);
                aes.Decrypt(nonce, cipher, tag, plain);
                return new Decrypted(Encoding.UTF8.GetString(plain), stale);
            }
            catch (AuthenticationTagMismatchException)
            {
            }
        }

        return null;
    }

    /// <summary>A key for another purpose (the forms' CSRF tokens), derived so it never equals the encryption key.</summary>
    public byte[] DeriveKey(string purpose) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, keys.Get().Current, 32, info: Encoding.UTF8.GetBytes(purpose));

    /// <summary>
    /// HMAC-SHA256 of <paramref name="material"/> under the key derived for <paramref name="purpose"/>, base64url:
    /// proof that this server made a value for that purpose (a form's CSRF token). Compare with <see cref="SameText"/>.
    /// </summary>
    public string Mac(string purpose, string material) =>
        OpaqueToken.Base64Url(HMACSHA256.HashData(DeriveKey(purpose), Encoding.UTF8.GetBytes(material)));

    /// <summary>Whether two ASCII values (MACs, hashes) are equal, in time that does not depend on where they differ.</summary>
    public static bool SameText(string expected, string? presented) =>
        presented is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(presented));
}
