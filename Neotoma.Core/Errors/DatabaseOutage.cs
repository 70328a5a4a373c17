using System.Net.Sockets;
using Npgsql;

namespace Neotoma.Core.Errors;

/// <summary>
/// The one test of "the database cannot serve right now": down, restarting, refusing connections or
/// us (a wrong password or database name: an operator fixes it while the app waits), out of pooled
/// connections, or a transaction rolled back by a deadlock. Requests answer it 503 with Retry-After
/// (one mapping for every endpoint) and background loops retry it with <see cref="Backoff"/>; anything
/// else is a bug to fix.
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
                // 28000, 28P01, 3D000: the server is up but refuses us (role, password, database name).
                case PostgresException pg:
                    return pg.SqlState.StartsWith("08", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                        || pg.SqlState is "57P01" or "57P02" or "57P03" or "42P01" or "40P01" or "40001" or "28000" or "28P01" or "3D000";
                case NpgsqlException { IsTransient: true }:
                case SocketException:
                case TimeoutException:
                    return true;
                // Npgsql's own (not the server's) errors are about reaching the server.
                case NpgsqlException and not PostgresException:
                    return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The one translation of a failure into the guide's terms, for every entry point (functions, pages
    /// and tools alike): an <see cref="OAuthException"/> as it is, a database outage as
    /// <see cref="OAuthErrorCode.OAUTH_DATABASE_UNAVAILABLE"/>; null for anything else, which is a bug.
    /// </summary>
    public static OAuthException? Known(Exception exception) =>
        exception as OAuthException ?? (Is(exception) ? ToOAuthException() : null);

    public static OAuthException ToOAuthException() =>
        new(OAuthErrorCode.OAUTH_DATABASE_UNAVAILABLE,
            "Neotoma's database is not ready right now (restarting, migrating or overloaded); nothing was changed. Try again in a moment.");
}
