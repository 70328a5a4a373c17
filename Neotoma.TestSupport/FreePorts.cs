using System.Net;
using System.Net.Sockets;

namespace Neotoma.TestSupport;

/// <summary>Ports for servers the tests and the benchmark start.</summary>
public static class FreePorts
{
    /// <summary>The lowest port the kernel gives outgoing connections (Linux: ip_local_port_range).</summary>
    private static readonly int EphemeralLow = File.Exists("/proc/sys/net/ipv4/ip_local_port_range")
        && int.TryParse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '], StringSplitOptions.RemoveEmptyEntries)[0], out var low)
        ? low
        : 32768;

    /// <summary>Where this process starts counting: apart from another run's by its process id.</summary>
    private static readonly int FirstPort = 10_000 + Environment.ProcessId % 1_000 * 16;

    private static int nextPort = FirstPort;

    /// <summary>
    /// A port nothing listens on. Not one the kernel hands out for port 0: those come from the
    /// ephemeral range, which every outgoing connection also draws from, so the port could be taken
    /// as a client's source port before the server binds it (seen as EADDRINUSE when the dev provider
    /// started). Ports below that range, each handed out once per process, cannot collide that way.
    /// </summary>
    public static int Next()
    {
        while (true)
        {
            var port = Interlocked.Increment(ref nextPort);
            if (port >= EphemeralLow)
            {
                Interlocked.CompareExchange(ref nextPort, FirstPort, port);
                continue;
            }

            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken by something else on this machine: try the next one.
            }
        }
    }
}
