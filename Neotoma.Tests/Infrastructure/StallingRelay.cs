using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Neotoma.TestSupport;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// A TCP relay on loopback in front of a server, which can stop passing bytes while every connection
/// stays open: a path that goes silent without a reset, as when a device on the way drops its state
/// for an idle connection. Here the kernel still acknowledges every segment, so TCP keepalive cannot
/// tell; only the application can (a half-open connection proper needs root's network tools).
/// </summary>
public sealed class StallingRelay : IAsyncDisposable
{
    private readonly TcpListener listener;
    private readonly int targetPort;
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentBag<TcpClient> sockets = [];
    private readonly Task accepting;
    private volatile TaskCompletionSource flowing = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private StallingRelay(int targetPort)
    {
        this.targetPort = targetPort;
        flowing.SetResult();
        listener = new TcpListener(IPAddress.Loopback, FreePorts.Next());
        listener.Start();
        accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    public static StallingRelay Start(int targetPort) => new(targetPort);

    /// <summary>From now on no byte is passed either way, on open connections and new ones alike.</summary>
    public void Stall() => flowing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Bytes flow again, the held ones first.</summary>
    public void Resume() => flowing.TrySetResult();

    private async Task AcceptAsync()
    {
        try
        {
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(stopping.Token);
                sockets.Add(client);
                _ = RelayAsync(client);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Disposed.
        }
    }

    private async Task RelayAsync(TcpClient client)
    {
        using var server = new TcpClient();
        sockets.Add(server);
        try
        {
            await server.ConnectAsync(IPAddress.Loopback, targetPort, stopping.Token);
            await Task.WhenAny(PumpAsync(client.GetStream(), server.GetStream()), PumpAsync(server.GetStream(), client.GetStream()));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or IOException or ObjectDisposedException)
        {
            // One side closed, or the relay was disposed.
        }
        finally
        {
            client.Dispose();
        }
    }

    private async Task PumpAsync(NetworkStream from, NetworkStream to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReadAsync(buffer, stopping.Token)) > 0)
            {
                await flowing.Task.WaitAsync(stopping.Token);
                await to.WriteAsync(buffer.AsMemory(0, read), stopping.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Closed.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync();
        listener.Stop();
        await accepting;
        foreach (var socket in sockets)
        {
            socket.Dispose();
        }

        stopping.Dispose();
    }
}
