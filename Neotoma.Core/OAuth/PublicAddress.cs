using System.Net;

namespace Neotoma.Core.OAuth;

/// <summary>
/// Whether an address is on the public internet: what a URL a client chose may make Neotoma
/// connect to. Private, loopback, link-local, shared (CGNAT), multicast, documentation and
/// reserved ranges are not, nor is Azure's platform endpoint (168.63.129.16), nor are IPv6 forms
/// that embed an IPv4 address (IPv4-compatible, mapped, NAT64, 6to4, Teredo), since those could
/// lead back to an internal one.
/// </summary>
public static class PublicAddress
{
    private static readonly (IPAddress Network, int Prefix)[] NotPublic =
    [
        (IPAddress.Parse("0.0.0.0"), 8),
        (IPAddress.Parse("10.0.0.0"), 8),
        (IPAddress.Parse("100.64.0.0"), 10),
        (IPAddress.Parse("127.0.0.0"), 8),
        (IPAddress.Parse("169.254.0.0"), 16),
        (IPAddress.Parse("172.16.0.0"), 12),
        // Azure's platform endpoint (WireServer: DNS, DHCP, health probes, the VM agent) answers every VM at this address.
        (IPAddress.Parse("168.63.129.16"), 32),
        (IPAddress.Parse("192.0.0.0"), 24),
        (IPAddress.Parse("192.0.2.0"), 24),
        (IPAddress.Parse("192.88.99.0"), 24),
        (IPAddress.Parse("192.168.0.0"), 16),
        (IPAddress.Parse("198.18.0.0"), 15),
        (IPAddress.Parse("198.51.100.0"), 24),
        (IPAddress.Parse("203.0.113.0"), 24),
        (IPAddress.Parse("224.0.0.0"), 4),
        (IPAddress.Parse("240.0.0.0"), 4),
        // The unspecified address, loopback and the deprecated IPv4-compatible form (::10.0.0.1).
        (IPAddress.Parse("::"), 96),
        (IPAddress.Parse("64:ff9b::"), 96),
        (IPAddress.Parse("64:ff9b:1::"), 48),
        (IPAddress.Parse("100::"), 64),
        (IPAddress.Parse("2001::"), 23),
        (IPAddress.Parse("2001:db8::"), 32),
        (IPAddress.Parse("2002::"), 16),
        (IPAddress.Parse("fc00::"), 7),
        (IPAddress.Parse("fe80::"), 10),
        (IPAddress.Parse("fec0::"), 10),
        (IPAddress.Parse("ff00::"), 8),
    ];

    public static bool Is(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return !NotPublic.Any(range => range.Network.AddressFamily == address.AddressFamily && InRange(address, range.Network, range.Prefix));
    }

    public static bool IsLoopback(IPAddress address) => IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);

    private static bool InRange(IPAddress address, IPAddress network, int prefix)
    {
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        var whole = prefix / 8;
        if (!a.AsSpan(0, whole).SequenceEqual(n.AsSpan(0, whole)))
        {
            return false;
        }

        var rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[whole] & mask) == (n[whole] & mask);
    }
}
