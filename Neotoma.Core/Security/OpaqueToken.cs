using System.Security.Cryptography;
using System.Text;

namespace Neotoma.Core.Security;

/// <summary>Random bearer strings (256 bits, base64url) and the SHA-256 hashes under which they are stored.</summary>
public static class OpaqueToken
{
    public static string New(int bytes = 32) => Base64Url(RandomNumberGenerator.GetBytes(bytes));

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    public static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
