using System.Net;
using Microsoft.AspNetCore.Http;

namespace Neotoma.Core.Security;

/// <summary>How many proxies in front of the app append to X-Forwarded-For (TRUSTED_PROXY_COUNT); 0 trusts no header.</summary>
public sealed record ClientIpOptions
{
    public int TrustedProxies { get; set; }
}

/// <summary>
/// The client's IP for rate limits and audit. Behind N trusted proxies (Azure's front end is
/// one) each proxy appends the address it saw to X-Forwarded-For, so the client is the N-th
/// entry from the right; anything further left was written by the client and is ignored.
/// </summary>
public sealed class ClientIpResolver(int trustedProxies)
{
    public string Resolve(HttpRequest request)
    {
        var remote = request.HttpContext.Connection.RemoteIpAddress;
        if (trustedProxies > 0)
        {
            var entries = request.Headers["X-Forwarded-For"].ToString()
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (entries.Length >= trustedProxies && TryParse(entries[^trustedProxies], out var forwarded))
            {
                return forwarded.ToString();
            }
        }

        return remote is null ? "unknown" : (remote.IsIPv4MappedToIPv6 ? remote.MapToIPv4() : remote).ToString();
    }

    /// <summary>Accepts "1.2.3.4", "1.2.3.4:5678", "[::1]:443" and bare IPv6 addresses.</summary>
    private static bool TryParse(string entry, out IPAddress address)
    {
        if (IPEndPoint.TryParse(entry, out var endpoint))
        {
            address = endpoint.Address;
            return true;
        }

        address = IPAddress.None;
        return false;
    }
}
