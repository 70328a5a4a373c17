using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Client authentication with a client secret (RFC 6749 §2.3.1), for the enterprise clients the operator
/// registers: <c>client_secret_basic</c> (HTTP Basic, id and secret form-encoded) or
/// <c>client_secret_post</c> (in the form), whichever the client was registered with. The secret is stored
/// only as its SHA-256 and compared in constant time.
/// </summary>
public sealed class ClientSecrets(NeotomaDatabase database, ILogger<ClientSecrets> logger)
{
    public const string Basic = "client_secret_basic";

    public const string Post = "client_secret_post";

    /// <summary>The client a request's secret proves; null when it carries none (no Basic header, no client_secret).</summary>
    public async Task<ClientAuthentication?> AuthenticateAsync(Dictionary<string, string> p, string? authorization, CancellationToken cancellationToken)
    {
        string clientId;
        string secret;
        string method;
        if (authorization is { Length: > 6 } header && header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            (clientId, secret) = DecodeBasic(header[6..].Trim())
                ?? throw Refuse("(unnamed)", "the Authorization header is not Basic base64(client_id:client_secret)");
            if (p.GetValueOrDefault("client_id") is { Length: > 0 } named && named != clientId)
            {
                throw Refuse(clientId, "client_id in the form differs from the one in the Authorization header");
            }

            if (p.ContainsKey("client_secret") || p.ContainsKey("client_assertion"))
            {
                throw Refuse(clientId, "a request authenticates one way only (RFC 6749 §2.3): Basic, or client_secret in the form, or an assertion");
            }

            method = Basic;
        }
        else if (p.GetValueOrDefault("client_secret") is { Length: > 0 } posted)
        {
            clientId = p.GetValueOrDefault("client_id") is { Length: > 0 } id ? id : throw Refuse("(unnamed)", "client_secret was sent without client_id");
            (secret, method) = (posted, Post);
        }
        else
        {
            return null;
        }

        var stored = await ClientStore.AuthenticationOfAsync(database, clientId, cancellationToken);
        // One answer for an unknown client, a wrong method and a wrong secret: nothing to probe.
        if (stored is not { SecretHash: { } hash } registered || registered.Method != method
            || !TokenCipher.SameText(hash, OpaqueToken.Hash(secret)))
        {
            throw Refuse(clientId, $"unknown client, wrong secret, or a client not registered for {method}");
        }

        return new ClientAuthentication(clientId, ByAssertion: false, BySecret: true);
    }

    /// <summary>RFC 6749 §2.3.1: client_id and client_secret are each form-urlencoded before they are joined with ':'.</summary>
    private static (string ClientId, string Secret)? DecodeBasic(string encoded)
    {
        try
        {
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(encoded));
            var colon = text.IndexOf(':');
            return colon <= 0 ? null : (FormDecode(text[..colon]), FormDecode(text[(colon + 1)..]));
        }
        catch (FormatException)
        {
            return null;
        }

        static string FormDecode(string value) => Uri.UnescapeDataString(value.Replace('+', ' '));
    }

    private OAuthException Refuse(string clientId, string reason)
    {
        var description = $"Client authentication failed: {reason}.";
        OAuthLog.ClientAssertionRefused(logger, DisplayText.Printable(clientId), OAuthErrorCode.OAUTH_INVALID_CLIENT, description);
        return new OAuthException(OAuthErrorCode.OAUTH_INVALID_CLIENT, description);
    }
}
