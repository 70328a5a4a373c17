using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

public sealed record RegisteredClient(
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_id_issued_at")] long ClientIdIssuedAt,
    [property: JsonPropertyName("client_name")] string? ClientName,
    [property: JsonPropertyName("redirect_uris")] IReadOnlyList<string> RedirectUris,
    [property: JsonPropertyName("grant_types")] IReadOnlyList<string> GrantTypes,
    [property: JsonPropertyName("response_types")] IReadOnlyList<string> ResponseTypes,
    [property: JsonPropertyName("token_endpoint_auth_method")] string TokenEndpointAuthMethod,
    [property: JsonPropertyName("application_type"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? ApplicationType = null);

/// <summary>
/// RFC 7591 dynamic client registration. Every client is public (PKCE, no secret): MCP
/// clients run on users' machines and cannot keep one. Registrations live in PostgreSQL so
/// any instance can serve the next step.
/// </summary>
public sealed class ClientRegistrationService(NeotomaDatabase database, TimeProvider timeProvider, ILogger<ClientRegistrationService> logger)
{
    public const int MaxBodyBytes = 16 * 1024;
    public const int MaxRedirectUris = 10;
    public const int MaxClientNameLength = 200;

    private static readonly string[] SupportedGrantTypes = ["authorization_code", "refresh_token"];

    public async Task<RegisteredClient> RegisterAsync(string json, CancellationToken cancellationToken)
    {
        var root = ParseObject(json);
        var request = Parse(root);
        request = request with { ApplicationType = ApplicationTypeOf(root, request.RedirectUris) };
        var now = timeProvider.GetUtcNow();
        var client = new RegisteredClient(
            "mcp_" + OpaqueToken.New(18),
            now.ToUnixTimeSeconds(),
            request.ClientName,
            request.RedirectUris,
            request.GrantTypes,
            ["code"],
            "none",
            request.ApplicationType);

        await ClientStore.RegisterAsync(database,
            new StoredClient(client.ClientId, client.ClientName, client.RedirectUris, client.GrantTypes, request.ApplicationType), request.ClientUri, now,
            cancellationToken);

        OAuthLog.ClientRegistered(logger, client.ClientId, client.ClientName ?? "(unnamed)");
        return client;
    }

    public async Task<ClientRecord?> FindAsync(string clientId, CancellationToken cancellationToken) =>
        await ClientStore.FindRegisteredAsync(database, clientId, cancellationToken) is { } stored ? ClientRecord.From(stored) : null;

    internal sealed record ParsedRequest(string? ClientName, string? ClientUri, string[] RedirectUris, string[] GrantTypes, string? ApplicationType = null);

    /// <summary>
    /// <c>application_type</c> of a registration (SEP-837): <c>native</c> accepts what Neotoma accepts
    /// (loopback, private-use schemes, https); <c>web</c> only https redirects; absent keeps today's rules
    /// (Cursor registers <c>cursor:</c>, https and loopback together). Any other value is refused.
    /// </summary>
    private static string? ApplicationTypeOf(JsonElement root, IEnumerable<string> redirectUris)
    {
        var type = OAuthJson.OptionalString(root, "application_type", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA);
        if (type is not (null or "native" or "web"))
        {
            throw Invalid("application_type must be native or web.");
        }

        if (type == "web" && redirectUris.FirstOrDefault(uri => new Uri(uri).Scheme != "https") is { } notWeb)
        {
            throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI,
                $"Redirect URI '{DisplayText.Printable(notWeb)}' is not allowed for a web application: use https, or register as application_type native.");
        }

        return type;
    }

    /// <summary>A metadata document's <c>application_type</c>, for what it informs: a document is never refused over it.</summary>
    internal static string? DocumentApplicationType(JsonElement root) =>
        root.TryGetProperty("application_type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() is "native" or "web"
            ? type.GetString()
            : null;

    internal static JsonElement ParseObject(string json) => OAuthJson.ParseObject(json, OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA, "client metadata");

    /// <summary>The rules every client description passes, registered or served as a metadata document.</summary>
    internal static ParsedRequest Parse(string json) => Parse(ParseObject(json));

    internal static ParsedRequest Parse(JsonElement root)
    {
        if (!root.TryGetProperty("redirect_uris", out var uris) || uris.ValueKind != JsonValueKind.Array || uris.GetArrayLength() == 0)
        {
            throw Invalid("redirect_uris is required: a non-empty array of strings.");
        }

        if (uris.GetArrayLength() > MaxRedirectUris)
        {
            throw Invalid($"redirect_uris may hold at most {MaxRedirectUris} URIs.");
        }

        var redirectUris = new List<string>();
        foreach (var uri in uris.EnumerateArray())
        {
            if (uri.ValueKind != JsonValueKind.String)
            {
                throw Invalid("redirect_uris must contain only strings.");
            }

            var value = OAuthJson.Text(uri, "redirect_uris", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA);
            if (RedirectUriPolicy.Validate(value) is { } reason)
            {
                throw new OAuthException(OAuthErrorCode.OAUTH_INVALID_REDIRECT_URI, $"Redirect URI '{DisplayText.Printable(value)}' is not allowed: {reason}.");
            }

            redirectUris.Add(value);
        }

        // Liberal in what a client may list, strict in what it gets (RFC 7591 §2: the server may replace what
        // it does not support): grant and response types Neotoma does not offer are dropped, so a client that
        // also lists, say, the device-code grant (VS Code does) is registered with the two it can use.
        var listed = OAuthJson.OptionalStrings(root, "grant_types", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA) ?? ["authorization_code", "refresh_token"];
        if (!listed.Contains("authorization_code"))
        {
            throw Invalid("grant_types must include authorization_code, the only way to get Neotoma's tokens (with refresh_token to keep them).");
        }

        var grantTypes = SupportedGrantTypes.Where(listed.Contains).ToArray();
        if (OAuthJson.OptionalStrings(root, "response_types", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA) is { } responseTypes && !responseTypes.Contains("code"))
        {
            throw Invalid("response_types must include \"code\".");
        }

        var name = OAuthJson.OptionalString(root, "client_name", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA);
        if (name is { Length: > MaxClientNameLength } || (name is not null && !DisplayText.IsShowable(name)))
        {
            throw Invalid($"client_name must be at most {MaxClientNameLength} characters without control or invisible formatting characters.");
        }

        var clientUri = OAuthJson.OptionalString(root, "client_uri", OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA);
        if (clientUri is not null && (!Uri.TryCreate(clientUri, UriKind.Absolute, out var parsedUri) || parsedUri.Scheme != "https"))
        {
            clientUri = null; // informational only; an unusable one is dropped, not fatal
        }

        return new ParsedRequest(name, clientUri, redirectUris.Distinct().ToArray(), grantTypes.Distinct().ToArray());
    }

    private static OAuthException Invalid(string description) => new(OAuthErrorCode.OAUTH_INVALID_CLIENT_METADATA, description);
}

/// <summary>A client Neotoma knows: registered dynamically, or described by its metadata document (then <see cref="ClientId"/> is that document's https URL).</summary>
public sealed record ClientRecord(
    string ClientId, string? ClientName, IReadOnlyList<string> RedirectUris, IReadOnlyList<string> GrantTypes, bool MetadataDocument = false,
    string? ApplicationType = null, string TokenEndpointAuthMethod = "none", string? JwksUri = null)
{
    /// <summary>
    /// Who vouches for the name: the host serving the document, or nobody (a dynamic registration
    /// names itself). In its ASCII (punycode) form, so a look-alike such as <c>сlaude.ai</c> with a
    /// Cyrillic <c>с</c> shows as <c>xn--laude-…</c>, not as claude.ai.
    /// </summary>
    public string? DocumentHost => MetadataDocument ? DisplayText.AsciiAuthority(new Uri(ClientId)) : null;

    /// <summary>
    /// <see cref="DocumentHost"/> for a client known only by its id (a connection's, an approval's): a
    /// client_id that is an https URL is its metadata document's address (registration issues no such id).
    /// </summary>
    public static string? DocumentHostOf(string? clientId) =>
        clientId is not null && clientId.StartsWith("https://", StringComparison.Ordinal) && Uri.TryCreate(clientId, UriKind.Absolute, out var uri)
            ? DisplayText.AsciiAuthority(uri) : null;

    /// <summary>The document host as Unicode, when that differs from <see cref="DocumentHost"/> (shown beside it, never instead).</summary>
    public string? DocumentHostUnicode => MetadataDocument ? DisplayText.UnicodeAuthority(new Uri(ClientId)) : null;

    /// <summary>A stored client as the authorization server uses it (the one mapping of a row).</summary>
    public static ClientRecord From(StoredClient stored) =>
        new(stored.ClientId, stored.ClientName, stored.RedirectUris, stored.GrantTypes, MetadataDocument: stored.DocumentExpiresAt is not null,
            ApplicationType: stored.ApplicationType, TokenEndpointAuthMethod: stored.TokenEndpointAuthMethod, JwksUri: stored.JwksUri);
}
