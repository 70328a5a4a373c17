using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Azure.Core;
using Azure.Core.Pipeline;
using Azure.Security.KeyVault.Secrets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// An HTTPS endpoint that speaks the Key Vault secrets REST protocol (bearer challenge, then
/// GET /secrets/{name}, /secrets/{name}/versions, /secrets/{name}/{version}), so the real
/// <see cref="SecretClient"/> runs unchanged against it. No Key Vault emulator exists; this is
/// the one fake of the test suite, and it fakes only the server.
/// </summary>
public sealed class FakeKeyVault : IAsyncDisposable
{
    public const string AccessToken = "test-vault-access-token";
    public const string DeniedToken = "identity-without-role";

    private readonly WebApplication app;
    private readonly ConcurrentDictionary<string, List<SecretVersion>> secrets = new();
    private int secretReads;

    private sealed record SecretVersion(string Version, string Value, DateTimeOffset Created, bool Enabled);

    private FakeKeyVault(WebApplication app, X509Certificate2 certificate, Uri uri)
    {
        this.app = app;
        Certificate = certificate;
        Uri = uri;
    }

    public Uri Uri { get; }

    public X509Certificate2 Certificate { get; }

    /// <summary>Authorized reads of secret values: the app must read the key once at start-up, never per request.</summary>
    public int SecretReads => secretReads;

    public void AddVersion(string name, string value, bool enabled = true)
    {
        var versions = secrets.GetOrAdd(name, _ => []);
        lock (versions)
        {
            versions.Add(new SecretVersion(Guid.NewGuid().ToString("N"), value, DateTimeOffset.UtcNow.AddSeconds(versions.Count), enabled));
        }
    }

    /// <summary>Options for a <see cref="SecretClient"/> that trusts this vault's certificate and tolerates its loopback host.</summary>
    public SecretClientOptions ClientOptions()
    {
        var options = new SecretClientOptions
        {
            DisableChallengeResourceVerification = true,
            Transport = new HttpClientTransport(new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = (_, certificate, _, _) => certificate?.Thumbprint == Certificate.Thumbprint,
            }),
        };
        options.Retry.MaxRetries = 0;
        return options;
    }

    public static async Task<FakeKeyVault> StartAsync()
    {
        var certificate = CreateCertificate();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(certificate)));
        var app = builder.Build();
        FakeKeyVault? vault = null;
        app.Use(async (context, next) =>
        {
            var authorization = context.Request.Headers.Authorization.ToString();
            if (authorization == "Bearer " + DeniedToken)
            {
                await Error(context, 403, "Forbidden", "Caller is not authorized to perform action on resource.");
                return;
            }

            if (authorization != "Bearer " + AccessToken)
            {
                context.Response.StatusCode = 401;
                context.Response.Headers.WWWAuthenticate =
                    "Bearer authorization=\"https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000\", resource=\"https://vault.azure.net\"";
                return;
            }

            await next(context);
        });
        app.MapGet("/secrets/{name}/versions", (string name, HttpContext context) => vault!.ListVersions(name, context));
        app.MapGet("/secrets/{name}/{version?}", (string name, string? version, HttpContext context) => vault!.Read(name, version, context));
        await app.StartAsync();
        var address = app.Urls.First();
        vault = new FakeKeyVault(app, certificate, new Uri(address.EndsWith('/') ? address : address + "/"));
        return vault;
    }

    private Task Read(string name, string? version, HttpContext context)
    {
        if (!secrets.TryGetValue(name, out var versions))
        {
            return Error(context, 404, "SecretNotFound", $"A secret with (name/id) {name} was not found in this key vault.");
        }

        SecretVersion? found;
        lock (versions)
        {
            found = version is null
                ? versions.Where(v => v.Enabled).MaxBy(v => v.Created)
                : versions.FirstOrDefault(v => v.Version == version);
        }

        if (found is null)
        {
            return Error(context, 404, "SecretNotFound", $"Secret {name}/{version} not found.");
        }

        Interlocked.Increment(ref secretReads);
        return Results.Json(new
        {
            value = found.Value,
            id = $"{Uri}secrets/{name}/{found.Version}",
            attributes = Attributes(found),
        }).ExecuteAsync(context);
    }

    private Task ListVersions(string name, HttpContext context)
    {
        var versions = secrets.TryGetValue(name, out var list) ? list : [];
        object[] items;
        lock (versions)
        {
            items = versions.Select(v => (object)new { id = $"{Uri}secrets/{name}/{v.Version}", attributes = Attributes(v) }).ToArray();
        }

        return Results.Json(new { value = items, nextLink = (string?)null }).ExecuteAsync(context);
    }

    private static object Attributes(SecretVersion version) => new
    {
        enabled = version.Enabled,
        created = version.Created.ToUnixTimeSeconds(),
        updated = version.Created.ToUnixTimeSeconds(),
        recoveryLevel = "Recoverable+Purgeable",
    };

    private static Task Error(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new { error = new { code, message } });
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
        Certificate.Dispose();
    }
}

/// <summary>A credential that hands out a fixed token, as a managed identity would hand out a real one.</summary>
public sealed class StaticTokenCredential(string token) : TokenCredential
{
    public int Requests { get; private set; }

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        Requests++;
        return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
    }

    public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
        ValueTask.FromResult(GetToken(requestContext, cancellationToken));
}
