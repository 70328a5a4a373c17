using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// An https server on loopback with a certificate made at start-up, where a test puts client
/// metadata documents (and misbehaving answers) at paths of its choice. <see cref="CaFile"/> is the
/// certificate as PEM: the app trusts it through <see cref="LoopbackDocumentFence"/> (registered in
/// place of the product's fence), Node through NODE_EXTRA_CA_CERTS.
/// </summary>
public sealed class MetadataDocumentHost : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, RequestDelegate> routes = new();
    private readonly ConcurrentQueue<(string Path, string? IfNoneMatch)> requests = new();

    private MetadataDocumentHost(WebApplication app, Uri origin, string caFile)
    {
        this.app = app;
        Origin = origin;
        CaFile = caFile;
    }

    public Uri Origin { get; }

    public string CaFile { get; }

    /// <summary>Every request served, in order, with the If-None-Match it carried.</summary>
    public IReadOnlyCollection<(string Path, string? IfNoneMatch)> Requests => requests;

    public int RequestsFor(string path) => requests.Count(r => r.Path == path);

    public string Url(string path) => new Uri(Origin, path).ToString();

    /// <summary>Serves <paramref name="path"/> with <paramref name="handler"/> from now on.</summary>
    public void Map(string path, RequestDelegate handler) => routes[path] = handler;

    /// <summary>A well-formed document naming its own URL, with the headers given.</summary>
    public string MapDocument(string path, string clientName, string[] redirectUris, string? cacheControl = null, string? etag = null)
    {
        var url = Url(path);
        var json = System.Text.Json.JsonSerializer.Serialize(new
        {
            client_id = url,
            client_name = clientName,
            redirect_uris = redirectUris,
            grant_types = new[] { "authorization_code", "refresh_token" },
            response_types = new[] { "code" },
            token_endpoint_auth_method = "none",
        });
        Map(path, async context =>
        {
            if (cacheControl is not null)
            {
                context.Response.Headers.CacheControl = cacheControl;
            }

            if (etag is not null)
            {
                context.Response.Headers.ETag = etag;
                if (context.Request.Headers.IfNoneMatch == etag)
                {
                    context.Response.StatusCode = StatusCodes.Status304NotModified;
                    return;
                }
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(json);
        });
        return url;
    }

    public static async Task<MetadataDocumentHost> StartAsync()
    {
        var certificate = CreateCertificate();
        var caFile = Path.Combine(Path.GetTempPath(), $"neotoma-cimd-ca-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(caFile, certificate.ExportCertificatePem());

        var origin = new Uri($"https://127.0.0.1:{FreePorts.Next()}");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(IPAddress.Loopback, origin.Port, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        var host = new MetadataDocumentHost(app, origin, caFile);
        app.Run(context =>
        {
            var path = context.Request.Path.Value ?? "/";
            host.requests.Enqueue((path, context.Request.Headers.IfNoneMatch.FirstOrDefault()));
            if (host.routes.TryGetValue(context.Request.Host.Host + path, out var handler) || host.routes.TryGetValue(path, out handler))
            {
                return handler(context);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        await app.StartAsync();
        return host;
    }

    /// <summary>
    /// The hosts of the metadata documents real clients publish. The test host stands in for them: it
    /// serves their documents at their paths, under a certificate that names them, and
    /// <see cref="LoopbackDocumentFence"/> sends their https connections to it.
    /// </summary>
    public static readonly string[] PublishedHosts = ["vscode.dev", "chatgpt.com", "claude.ai", "zed.dev"];

    /// <summary>Serves <paramref name="json"/> as the document at <paramref name="url"/> (one of <see cref="PublishedHosts"/>), as that client publishes it.</summary>
    public void MapPublished(string url, string json)
    {
        var uri = new Uri(url);
        routes[uri.Host + uri.AbsolutePath] = async context =>
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(json);
        };
    }

    /// <summary>A self-signed certificate for 127.0.0.1, localhost and the published documents' hosts, its own CA.</summary>
    private static X509Certificate2 CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=Neotoma test metadata documents", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        foreach (var host in PublishedHosts)
        {
            names.AddDnsName(host);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Kestrel on Linux wants a certificate whose key it can use from a PKCS#12 export.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        File.Delete(CaFile);
    }
}
