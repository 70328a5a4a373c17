using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// A pooled connection taken for one request before its answer has started, so that a request the
/// pool cannot serve is refused while its HTTP status can still say so (503, Retry-After), and the
/// request's own queries then run on that connection instead of waiting for the pool a second time.
/// Opening a pooled connection costs no round trip, so a request that finds the pool free pays nothing
/// for asking. <see cref="NeotomaDatabase"/> uses the lease of the current async flow when there is one
/// and it is idle; a second unit of work running beside the first takes its own from the pool.
/// </summary>
public sealed class RequestConnection : IAsyncDisposable
{
    private static readonly AsyncLocal<RequestConnection?> Current = new();

    private NpgsqlConnection? idle;
    private volatile bool ended;

    private RequestConnection(NpgsqlConnection connection) => idle = connection;

    /// <summary>Takes a connection for a request; throws what opening one throws (see <see cref="Errors.DatabaseOutage"/>).</summary>
    public static async Task<RequestConnection> AcquireAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken) =>
        new(await dataSource.OpenConnectionAsync(cancellationToken));

    /// <summary>
    /// Makes this the connection of the caller's async flow and of everything it calls. Not part of
    /// <see cref="AcquireAsync"/>: an async method's change to an AsyncLocal ends when it returns.
    /// </summary>
    public RequestConnection Attach()
    {
        Current.Value = this;
        return this;
    }

    /// <summary>The request's connection when it is idle (now taken until <see cref="Return"/>), or null.</summary>
    internal static NpgsqlConnection? TryTake() =>
        Current.Value is { ended: false } lease ? Interlocked.Exchange(ref lease.idle, null) : null;

    /// <summary>Gives a connection taken by <see cref="TryTake"/> back to its request, or to the pool once the request has ended.</summary>
    internal static async ValueTask ReturnAsync(NpgsqlConnection connection)
    {
        if (connection.State == System.Data.ConnectionState.Open && Current.Value is { ended: false } lease
            && Interlocked.CompareExchange(ref lease.idle, connection, null) is null)
        {
            // The request may have ended between the check and the exchange: then its disposal has
            // already run, and the connection goes back to the pool here.
            if (lease.ended && Interlocked.Exchange(ref lease.idle, null) is { } late)
            {
                await late.DisposeAsync();
            }

            return;
        }

        await connection.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        // The flow keeps pointing here until the request's context ends; marked ended, it is ignored.
        ended = true;
        if (Interlocked.Exchange(ref idle, null) is { } connection)
        {
            await connection.DisposeAsync();
        }
    }
}
