using System.Net;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Which redirect URIs a client may register and how a requested one matches a registered
/// one. Schemes: the guide's whitelist (http, https, cursor, vscode, app); http only for
/// loopback hosts; no fragments (RFC 6749 §3.1.2); loopback ports may differ (RFC 8252 §7.3).
/// </summary>
public static class RedirectUriPolicy
{
    public static readonly IReadOnlySet<string> AllowedSchemes = new HashSet<string>(StringComparer.Ordinal)
    {
        "http", "https", "cursor", "vscode", "app",
    };

    public const int MaxLength = 2000;

    /// <summary>Null when allowed, else why not (safe to show: it only echoes the client's own URI).</summary>
    public static string? Validate(string? uri)
    {
        if (string.IsNullOrWhiteSpace(uri))
        {
            return "a redirect URI must not be empty";
        }

        if (uri.Length > MaxLength)
        {
            return $"a redirect URI must be at most {MaxLength} characters";
        }

        if (uri.Any(char.IsWhiteSpace) || !Security.DisplayText.IsShowable(uri))
        {
            return "a redirect URI must not contain whitespace, control or invisible formatting characters";
        }

        // Checked by hand: on Unix, Uri also reads "/path" as an absolute file URI.
        var colon = uri.IndexOf(':');
        if (colon < 1 || !char.IsAsciiLetter(uri[0]) || !uri[..colon].All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '-' or '.')
            || !Uri.TryCreate(uri, UriKind.Absolute, out var parsed))
        {
            return "it is not an absolute URI (a protocol such as https:// is missing)";
        }

        if (!AllowedSchemes.Contains(parsed.Scheme))
        {
            return $"the protocol '{parsed.Scheme}' is not allowed; use http (loopback only), https, cursor, vscode or app";
        }

        if (uri.Contains('#'))
        {
            return "a redirect URI must not contain a fragment (#)";
        }

        if (parsed.Scheme is "http" or "https" && string.IsNullOrEmpty(parsed.Host))
        {
            return "an http(s) redirect URI needs a host";
        }

        if (parsed.Scheme == "http" && !IsLoopback(parsed))
        {
            return "http is allowed only for loopback hosts (localhost, 127.0.0.0/8, [::1]); use https";
        }

        if (!string.IsNullOrEmpty(parsed.UserInfo))
        {
            return "a redirect URI must not contain user credentials";
        }

        return null;
    }

    /// <summary>
    /// Exact string match, except that a loopback http URI may use any port (RFC 8252 §7.3):
    /// native apps get an ephemeral port from the OS at sign-in time.
    /// </summary>
    public static bool Matches(string registered, string requested)
    {
        if (string.Equals(registered, requested, StringComparison.Ordinal))
        {
            return true;
        }

        if (!Uri.TryCreate(registered, UriKind.Absolute, out var a) || !Uri.TryCreate(requested, UriKind.Absolute, out var b))
        {
            return false;
        }

        // RFC 8252 §7.3: only the port of a loopback redirect may differ; the requested URI must
        // still be one registration would accept (no fragment, no userinfo).
        return a.Scheme == "http" && b.Scheme == "http" && IsLoopback(a) && IsLoopback(b)
            && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase)
            && string.Equals(a.PathAndQuery, b.PathAndQuery, StringComparison.Ordinal)
            && b.Fragment.Length == 0 && !requested.Contains('#') && b.UserInfo.Length == 0;
    }

    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback
        || string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}
