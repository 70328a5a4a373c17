using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Neotoma.Core.OAuth;

namespace Neotoma.Functions.Http;

/// <summary>Bounded reading of request bodies, so a 1 MB body is a 400, not a memory spike or a 500.</summary>
internal static class RequestBody
{
    public const int MaxFormBytes = 16 * 1024;

    public static async Task<string> ReadTextAsync(HttpRequest request, int maxBytes, OAuthErrorCode tooLarge, CancellationToken cancellationToken)
    {
        if (request.ContentLength > maxBytes)
        {
            throw new OAuthException(tooLarge, $"The request body is larger than {maxBytes} bytes.");
        }

        var buffer = new byte[maxBytes + 1];
        var total = 0;
        int read;
        while ((read = await request.Body.ReadAsync(buffer.AsMemory(total, buffer.Length - total), cancellationToken)) > 0)
        {
            total += read;
            if (total > maxBytes)
            {
                throw new OAuthException(tooLarge, $"The request body is larger than {maxBytes} bytes.");
            }
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, total);
        }
        catch (DecoderFallbackException)
        {
            throw new OAuthException(tooLarge, "The request body is not valid UTF-8.");
        }
    }

    /// <summary>An application/x-www-form-urlencoded body, as RFC 6749 requires for the token and revocation endpoints.</summary>
    public static async Task<IEnumerable<KeyValuePair<string, StringValues>>> ReadFormAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!IsMediaType(request, "application/x-www-form-urlencoded"))
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REQUEST, "The request body must be application/x-www-form-urlencoded.");
        }

        var text = await ReadTextAsync(request, MaxFormBytes, OAuthErrorCode.OAUTH_INVALID_REQUEST, cancellationToken);
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(text);
    }

    public static bool IsMediaType(HttpRequest request, string mediaType) =>
        Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(request.ContentType, out var parsed)
        && string.Equals(parsed.MediaType.Value, mediaType, StringComparison.OrdinalIgnoreCase);
}
