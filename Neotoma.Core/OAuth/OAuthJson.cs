using System.Text.Json;

namespace Neotoma.Core.OAuth;

/// <summary>
/// The one way the OAuth endpoints read a JSON body (registration, the JSON initiate): anything
/// malformed, duplicated or not valid Unicode is a 400 with the endpoint's own error code, never a 500.
/// </summary>
public static class OAuthJson
{
    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 16, AllowDuplicateProperties = false };

    /// <summary>The body as a JSON object; an empty body is an empty object.</summary>
    public static JsonElement ParseObject(string text, OAuthErrorCode code, string what)
    {
        try
        {
            using var document = JsonDocument.Parse(text.Length == 0 ? "{}" : text, Options);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw new OAuthException(code, $"The request body must be a JSON object of {what}.");
        }
        catch (JsonException)
        {
            throw new OAuthException(code, "The request body is not valid JSON (or names a member twice).");
        }
    }

    public static string? OptionalString(JsonElement root, string name, OAuthErrorCode code) =>
        !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? Text(value, name, code)
        : throw new OAuthException(code, $"{name} must be a string.");

    public static string[]? OptionalStrings(JsonElement root, string name, OAuthErrorCode code)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
        {
            throw new OAuthException(code, $"{name} must be an array of strings.");
        }

        return value.EnumerateArray().Select(v => Text(v, name, code)).ToArray();
    }

    /// <summary>A JSON string as text; an escaped lone surrogate ("\ud800") cannot become text and is refused.</summary>
    public static string Text(JsonElement value, string name, OAuthErrorCode code)
    {
        try
        {
            return value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new OAuthException(code, $"{name} is not valid Unicode text.");
        }
    }
}
