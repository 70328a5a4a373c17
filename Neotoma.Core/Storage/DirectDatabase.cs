using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// Connections that need a whole session to themselves (a session advisory lock, LISTEN): the
/// server's direct port when request traffic goes through a transaction-mode pooler, otherwise the
/// same data source as everything else.
/// </summary>
public sealed record DirectDatabase(NpgsqlDataSource DataSource);
