using System.Net.Sockets;
using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// Tells a database that is down, restarting, refusing connections or out of pooled connections
/// from a bug: the former is answered 503 with Retry-After (one mapping for every endpoint), the
/// latter stays an error to fix.
/// </summary>
public static class DatabaseOutage
{
    public static bool Is(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                // 08: connection exceptions; 53: insufficient resources (too many connections);
                // 57P01-57P03: shutting down, crashed, starting up; 42P01: a table the migrations
                // create is not there yet (an instance serving while its start-up migration runs).
                // 40P01, 40001: a deadlock or serialization failure rolled the transaction back; a retry succeeds.
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                        || pg.SqlState is "57P01" or "57P02" or "57P03" or "42P01" or "40P01" or "40001";
                case NpgsqlException { IsTransient: true }:
                case SocketException:
                case TimeoutException:
                    return true;
                case NpgsqlException npgsql when npgsql.InnerException is IOException or EndOfStreamException:
                    return true;
            }
        }

        return false;
    }

    public static OAuthException ToOAuthException() =>
        new(OAuthErrorCode.OAUTH_DATABASE_UNAVAILABLE,
            "Neotoma's database is not ready right now (restarting, migrating or overloaded); nothing was changed. Try again in a moment.");
}
