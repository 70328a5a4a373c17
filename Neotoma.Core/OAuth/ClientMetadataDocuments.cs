using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.OAuth;

public sealed record ClientMetadataDocumentOptions
{
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    public int MaxBytes { get; set; } = 5 * 1024;

    /// <summary>How long a document without caching headers is kept.</summary>
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest a document is kept whatever its max-age says, so a client's change of redirect URIs is seen within a day.</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(24);
}

/// <summary>
/// Where a metadata document may be fetched from, asked by the fetch's own connection and TLS
/// handshake (so DNS cannot change between the check and the connect): public addresses only, and
/// certificates the system trusts. Registered in DI; the handler of <see cref="ClientMetadataDocuments.HttpClientName"/>
/// asks whichever fence is registered.
/// </summary>
public class DocumentFetchFence
{
    /// <summary>Where a document's host and port are (DNS, or the literal address), before <see cref="Allows"/> filters them.</summary>
    public virtual async Task<IPEndPoint[]> ResolveAsync(DnsEndPoint endpoint, CancellationToken cancellationToken)
    {
        var addresses = IPAddress.TryParse(endpoint.Host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(endpoint.Host, cancellationToken);
        return [.. addresses.Select(address => new IPEndPoint(address, endpoint.Port))];
    }

    /// <summary>Whether a document may be fetched from this address.</summary>
    public virtual bool Allows(IPAddress address) => PublicAddress.Is(address);

    /// <summary>
    /// Called only for a certificate the system does not trust (a chain error, nothing else): whether to
    /// accept it anyway. Never, here.
    /// </summary>
    public virtual bool TrustsUntrustedChain(X509Certificate certificate, string targetHost) => false;
}

/// <summary>
/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP authorization
/// 2025-11-25): a client whose <c>client_id</c> is an https URL is described by the JSON document at
/// that URL. Neotoma fetches it as an untrusted party chose it: https only, to public addresses only
/// (checked on the address actually connected to, after DNS), at most 5 KB in 5 s, redirects only
/// within the same origin; the document must name its own URL as <c>client_id</c> and passes the
/// same rules as a dynamic registration. Documents are kept in mcp_oauth_clients, so every
/// instance agrees, for as long as the host's Cache-Control allows (revalidated with its ETag).
/// </summary>
public sealed class ClientMetadataDocuments(
    NeotomaDatabase database,
    IHttpClientFactory httpClients,
    ClientMetadataDocumentOptions options,
    RateLimiter rateLimiter,
    TimeProvider timeProvider,
    ILogger<ClientMetadataDocuments> logger)
{
    public const string HttpClientName = "client-metadata-documents";

    private const int MaxRedirects = 3;

    public static bool IsUrl(string clientId) =>
        clientId.StartsWith("https://", StringComparison.OrdinalIgnoreCase) || clientId.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    /// <summary>The client a URL client_id stands for: from the cache while fresh, else fetched (counted against the caller's registration rate limit).</summary>
    public async Task<ClientRecord> ResolveAsync(string clientId, string? clientIp, CancellationToken cancellationToken)
    {
        var url = ValidUrl(clientId);
        var cached = await LoadAsync(clientId, cancellationToken);
        var now = timeProvider.GetUtcNow();
        if (cached is { } fresh && fresh.ExpiresAt > now)
        {
            return fresh.Client;
        }

        if (clientIp is not null)
        {
            await rateLimiter.HitAsync(RateLimitedEndpoint.Register, clientIp, cancellationToken);
        }

        var fetched = await FetchAsync(url, cached?.ETag, cancellationToken);
        if (fetched.Body is null && cached is { } unchanged)
        {
            await SaveAsync(unchanged.Client, fetched, cancellationToken);
            return unchanged.Client;
        }

        var client = Parse(clientId, fetched.Body!);
        await SaveAsync(client, fetched, cancellationToken);
        OAuthLog.ClientMetadataDocumentFetched(logger, clientId, client.ClientName ?? "(unnamed)");
        return client;
    }

    /// <summary>The URL rules of the draft (§3): https, a path, no fragment, no credentials, no dot segments.</summary>
    private static Uri ValidUrl(string clientId)
    {
        if (clientId.Length > RedirectUriPolicy.MaxLength || !Uri.TryCreate(clientId, UriKind.Absolute, out var url))
        {
            throw Refused(clientId, "client_id is not a valid URL");
        }

        if (url.Scheme != Uri.UriSchemeHttps)
        {
            throw Refused(clientId, "a URL client_id must use https");
        }

        if (url.AbsolutePath is "/" or "" || clientId.Contains('#') || !string.IsNullOrEmpty(url.UserInfo)
            || clientId.Contains("/./", StringComparison.Ordinal) || clientId.Contains("/../", StringComparison.Ordinal)
            || clientId.EndsWith("/.", StringComparison.Ordinal) || clientId.EndsWith("/..", StringComparison.Ordinal))
        {
            throw Refused(clientId, "a URL client_id needs a path and no fragment, credentials or dot segments");
        }

        return url;
    }

    private sealed record Fetched(string? Body, DateTimeOffset ExpiresAt, string? ETag);

    private async Task<Fetched> FetchAsync(Uri url, string? etag, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Timeout);
        var http = httpClients.CreateClient(HttpClientName);
        var current = url;
        try
        {
            for (var hop = 0; hop <= MaxRedirects; hop++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, current);
                request.Headers.Accept.ParseAdd("application/json");
                if (etag is not null && hop == 0)
                {
                    request.Headers.TryAddWithoutValidation("If-None-Match", etag);
                }

                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.StatusCode != HttpStatusCode.NotModified)
                {
                    var next = response.Headers.Location is { } location ? new Uri(current, location) : null;
                    current = next is not null && next.Scheme == Uri.UriSchemeHttps && next.Authority == url.Authority
                        ? next
                        : throw Refused(url.OriginalString, "its host redirects to another host, which Neotoma does not follow");
                    continue;
                }

                var expires = ExpiresAt(response);
                if (response.StatusCode == HttpStatusCode.NotModified && etag is not null)
                {
                    return new Fetched(null, expires, etag);
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw Refused(url.OriginalString, $"its host answered HTTP {(int)response.StatusCode}");
                }

                if (response.Content.Headers.ContentLength > options.MaxBytes)
                {
                    throw Refused(url.OriginalString, $"the document is larger than {options.MaxBytes} bytes");
                }

                var body = await ReadLimitedAsync(response.Content, url, timeout.Token);
                return new Fetched(body, expires, response.Headers.ETag?.ToString());
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw Refused(url.OriginalString, $"its host did not answer within {options.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException e) when (e.InnerException is NonPublicAddressException refusal)
        {
            throw Refused(url.OriginalString, refusal.Message);
        }
        catch (HttpRequestException e)
        {
            throw Refused(url.OriginalString, $"it could not be fetched ({e.HttpRequestError})");
        }

        throw Refused(url.OriginalString, $"its host redirected more than {MaxRedirects} times");
    }

    private async Task<string> ReadLimitedAsync(HttpContent content, Uri url, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[options.MaxBytes + 1];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
        }

        if (length > options.MaxBytes)
        {
            throw Refused(url.OriginalString, $"the document is larger than {options.MaxBytes} bytes");
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, length);
        }
        catch (DecoderFallbackException)
        {
            throw Refused(url.OriginalString, "the document is not UTF-8 JSON");
        }
    }

    /// <summary>Cache-Control as the host sets it (no-store and no-cache: revalidate every time), within <see cref="ClientMetadataDocumentOptions.MaxLifetime"/>.</summary>
    private DateTimeOffset ExpiresAt(HttpResponseMessage response)
    {
        var cache = response.Headers.CacheControl;
        var lifetime = cache is { NoStore: true } or { NoCache: true } ? TimeSpan.Zero
            : cache?.MaxAge ?? options.DefaultLifetime;
        return timeProvider.GetUtcNow() + (lifetime > options.MaxLifetime ? options.MaxLifetime : lifetime);
    }

    /// <summary>The document's fields under the rules of a dynamic registration, plus what a document must say about itself.</summary>
    private static ClientRecord Parse(string clientId, string json)
    {
        ClientRegistrationService.ParsedRequest request;
        JsonElement root;
        try
        {
            root = ClientRegistrationService.ParseObject(json);
            request = ClientRegistrationService.Parse(root);
        }
        catch (OAuthException e)
        {
            throw Refused(clientId, e.Message.TrimEnd('.'));
        }

        if (!root.TryGetProperty("client_id", out var named) || named.ValueKind != JsonValueKind.String || named.GetString() != clientId)
        {
            throw Refused(clientId, "the document's client_id must be exactly the URL it is served from");
        }

        if (ClientAssertions.DeclaredMethod(root, out var method, out var jwksUri) is { } refusal)
        {
            throw Refused(clientId, refusal);
        }

        return new ClientRecord(clientId, request.ClientName, request.RedirectUris, request.GrantTypes, MetadataDocument: true,
            ApplicationType: ClientRegistrationService.DocumentApplicationType(root), TokenEndpointAuthMethod: method, JwksUri: jwksUri);
    }

    private readonly record struct Cached(ClientRecord Client, DateTimeOffset ExpiresAt, string? ETag);

    private async Task<Cached?> LoadAsync(string clientId, CancellationToken cancellationToken) =>
        await ClientStore.FindDocumentAsync(database, clientId, cancellationToken) is { DocumentExpiresAt: { } expiresAt } stored
            ? new Cached(ClientRecord.From(stored), expiresAt, stored.DocumentETag)
            : null;

    private Task SaveAsync(ClientRecord client, Fetched fetched, CancellationToken cancellationToken) =>
        ClientStore.SaveDocumentAsync(database,
            new StoredClient(client.ClientId, client.ClientName, client.RedirectUris, client.GrantTypes, client.ApplicationType, fetched.ExpiresAt, fetched.ETag,
                client.TokenEndpointAuthMethod, client.JwksUri),
            timeProvider.GetUtcNow(), cancellationToken);

    private static OAuthException Refused(string clientId, string reason) =>
        new(OAuthErrorCode.OAUTH_CLIENT_METADATA_DOCUMENT_INVALID,
            $"The client's metadata document '{DisplayText.Printable(clientId)}' cannot be used: {reason}.");

    /// <summary>
    /// The handler every document fetch goes through: it resolves the host itself and connects only
    /// to a public address it resolved (so a DNS answer cannot change between check and connect),
    /// follows no redirect by itself, and sends no cookies.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(DocumentFetchFence fence) => new()
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
        MaxResponseHeadersLength = 16,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var host = context.DnsEndPoint.Host;
            var endpoints = await fence.ResolveAsync(context.DnsEndPoint, cancellationToken);
            var allowed = endpoints.Where(endpoint => fence.Allows(endpoint.Address)).ToArray();
            if (allowed.Length == 0)
            {
                throw new NonPublicAddressException(endpoints.Length == 0
                    ? $"its host {host} does not resolve"
                    : $"its host {host} resolves only to private, loopback or otherwise non-public addresses");
            }

            return new NetworkStream(await ConnectAnyAsync(allowed, cancellationToken), ownsSocket: true);
        },
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (sender, certificate, chain, errors) =>
                errors == SslPolicyErrors.None
                || (errors == SslPolicyErrors.RemoteCertificateChainErrors && certificate is not null
                    && sender is SslStream { TargetHostName: var target } && fence.TrustsUntrustedChain(certificate, target)),
        },
    };

    /// <summary>A socket connected to the first of <paramref name="endpoints"/> that answers (a failed socket is not reused).</summary>
    private static async Task<Socket> ConnectAnyAsync(IPEndPoint[] endpoints, CancellationToken cancellationToken)
    {
        for (var i = 0; ; i++)
        {
            var socket = new Socket(endpoints[i].AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(endpoints[i], cancellationToken);
                return socket;
            }
            catch (SocketException) when (i < endpoints.Length - 1)
            {
                socket.Dispose();
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }

    internal sealed class NonPublicAddressException(string message) : Exception(message);
}
