using System.Net;
using System.Security.Cryptography.X509Certificates;
using Neotoma.Core.OAuth;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The product's fence for metadata-document fetches, opened just enough for <see cref="MetadataDocumentHost"/>:
/// loopback addresses too, the published documents' hosts (<see cref="MetadataDocumentHost.PublishedHosts"/>)
/// resolved to that host's port on loopback, and a certificate for those names that chains to that
/// host's own CA. Everything the product refuses besides loopback (private ranges, metadata addresses) stays refused.
/// </summary>
public sealed class LoopbackDocumentFence(X509Certificate2 ca, int publishedPort) : DocumentFetchFence
{
    public override Task<IPEndPoint[]> ResolveAsync(DnsEndPoint endpoint, CancellationToken cancellationToken) =>
        MetadataDocumentHost.PublishedHosts.Contains(endpoint.Host)
            ? Task.FromResult<IPEndPoint[]>([new IPEndPoint(IPAddress.Loopback, publishedPort)])
            : base.ResolveAsync(endpoint, cancellationToken);

    public override bool Allows(IPAddress address) => base.Allows(address) || IPAddress.IsLoopback(address);

    public override bool TrustsUntrustedChain(X509Certificate certificate, string targetHost)
    {
        if (targetHost != "localhost" && !MetadataDocumentHost.PublishedHosts.Contains(targetHost)
            && !(IPAddress.TryParse(targetHost.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address)))
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var leaf = new X509Certificate2(certificate);
        return chain.Build(leaf);
    }
}
