using Neotoma.Core.Security;
using Microsoft.Extensions.Primitives;

namespace Neotoma.Core.OAuth;

public static class OAuthParameters
{
    public const int MaxParameterLength = 2048;

    /// <summary>Each parameter at most once (RFC 6749 §3.1), bounded in length, without control characters.</summary>
    public static Dictionary<string, string> SingleValued(IEnumerable<KeyValuePair<string, StringValues>> parameters)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in parameters)
        {
            if (values.Count > 1)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"The parameter '{DisplayText.Printable(name)}' appears more than once.");
            }

            var value = values.ToString();
            if (value.Length > MaxParameterLength)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"The parameter '{DisplayText.Printable(name)}' is longer than {MaxParameterLength} characters.");
            }

            if (value.Any(char.IsControl))
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"The parameter '{DisplayText.Printable(name)}' contains control characters.");
            }

            result[name] = value;
        }

        return result;
    }

    /// <summary>A parameter that must be present and non-empty.</summary>
    public static string Required(Dictionary<string, string> p, string name) =>
        p.TryGetValue(name, out var value) && value.Length > 0
            ? value
            : throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, $"{name} is required.");
}
