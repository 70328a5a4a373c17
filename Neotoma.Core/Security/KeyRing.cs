
namespace Neotoma.Core.Security;

/// <summary>
/// The encryption keys in use: the current one (encrypts) and previous ones (still decrypt,
/// so rotating the key loses no connection). Filled at start-up from the environment or from
/// Key Vault; until then every use fails with a clear error instead of a 500.
/// </summary>
public sealed class KeyRing
{
    private volatile Keys? keys;
    private volatile string? loadError;

    public sealed record Keys(byte[] Current, IReadOnlyList<byte[]> Previous, string Source);

    public bool IsLoaded => keys is not null;

    /// <summary>Where the keys came from (a setting name or a vault secret), for logs and doctor.</summary>
    public string? Source => keys?.Source;

    public string? LoadError => loadError;

    public Keys Get() => keys ?? throw new OAuthException(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING,
        "OAUTH_ENCRYPTION_KEY_MISSING: the encryption key is not loaded yet" + (loadError is null ? "." : $": {loadError}"));

    public void Set(string currentHex, IEnumerable<string> previousHex, string source)
    {
        var current = Parse(currentHex, source);
        var previous = previousHex.Where(p => !string.IsNullOrWhiteSpace(p)).Select(p => Parse(p, source + " (previous key)"))
            .Where(p => !p.AsSpan().SequenceEqual(current)).ToArray();
        keys = new Keys(current, previous, source);
        loadError = null;
    }

    public void Fail(string error) => loadError = error;

    public static KeyRing FromHex(string? currentHex, string source, IEnumerable<string>? previousHex = null)
    {
        var ring = new KeyRing();
        ring.Set(currentHex ?? "", previousHex ?? [], source);
        return ring;
    }

    /// <summary>32 bytes from 64 hex characters, or the guide's error naming where the key came from (never the key).</summary>
    public static byte[] Parse(string? hex, string source)
    {
        if (string.IsNullOrWhiteSpace(hex))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_MISSING,
                $"OAUTH_ENCRYPTION_KEY_MISSING: {source} is not set. Generate 32 random bytes as 64 hex characters, " +
                "e.g. node -e \"console.log(require('crypto').randomBytes(32).toString('hex'))\" or openssl rand -hex 32.");
        }

        hex = hex.Trim();
        if (hex.Length != 64 || !hex.All(Uri.IsHexDigit))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_ENCRYPTION_KEY_INVALID,
                $"OAUTH_ENCRYPTION_KEY_INVALID: {source} must be exactly 64 hex characters (32 bytes); it has {hex.Length} characters" +
                (hex.All(Uri.IsHexDigit) ? "." : " and contains characters that are not hex digits."));
        }

        return Convert.FromHexString(hex);
    }
}
