using System.Security.Cryptography;
using System.Text;

namespace Neotoma.Core.Security;

/// <summary>RFC 7636 with S256 only (plain is refused: OAuth 2.1).</summary>
public static class Pkce
{
    /// <summary>43-128 characters of [A-Z a-z 0-9 - . _ ~] (RFC 7636 §4.1); a challenge is a 43-character base64url SHA-256.</summary>
    public static bool IsValidVerifier(string? verifier) =>
        verifier is { Length: >= 43 and <= 128 } && verifier.All(IsUnreserved);

    public static bool IsValidChallenge(string? challenge) =>
        challenge is { Length: 43 } && challenge.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_');

    public static string Challenge(string verifier) => OpaqueToken.Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    public static bool Verify(string verifier, string challenge) =>
        IsValidVerifier(verifier)
        && TokenCipher.SameText(Challenge(verifier), challenge);

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';
}
