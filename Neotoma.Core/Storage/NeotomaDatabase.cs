using Npgsql;

namespace Neotoma.Core.Storage;

/// <summary>
/// The one way Core code runs SQL: a transaction per unit of work, opened in a
/// <see cref="DbScope"/> that row-level security understands.
/// </summary>
public sealed class NeotomaDatabase(NpgsqlDataSource dataSource)
{
    /// <summary>What runs once a transaction of <see cref="InTransactionAsync{T}"/> has committed (never if it did not).</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<NpgsqlTransaction, List<Action>> AfterCommitActions = [];

    public async Task<T> InTransactionAsync<T>(
        DbScope scope,
        Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work,
        CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        try
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            try
            {
                await ApplyScopeAsync(connection, transaction, scope, cancellationToken);
                var result = await work(connection, transaction);
                await transaction.CommitAsync(cancellationToken);
                if (AfterCommitActions.TryGetValue(transaction, out var actions))
                {
                    foreach (var action in actions)
                    {
                        action();
                    }
                }

                return result;
            }
            finally
            {
                AfterCommitActions.Remove(transaction);
            }
        }
        finally
        {
            await RequestConnection.ReturnAsync(connection);
        }
    }

    /// <summary>The current request's connection (<see cref="RequestConnection"/>) when it has one idle, else one from the pool.</summary>
    private async ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        RequestConnection.TryTake() ?? await dataSource.OpenConnectionAsync(cancellationToken);

    /// <summary>
    /// Runs <paramref name="action"/> (quick, and never throwing: a signal, not work) after the transaction
    /// commits, on this instance; for work that must see what the transaction wrote, such as sending it on.
    /// </summary>
    internal static void AfterCommit(NpgsqlTransaction transaction, Action action) =>
        AfterCommitActions.GetOrCreateValue(transaction).Add(action);

    public Task InTransactionAsync(
        DbScope scope,
        Func<NpgsqlConnection, NpgsqlTransaction, Task> work,
        CancellationToken cancellationToken) =>
        InTransactionAsync<bool>(scope, async (connection, transaction) =>
        {
            await work(connection, transaction);
            return true;
        }, cancellationToken);

    /// <summary>
    /// One read in one round trip: the scope setting and the query travel as one batch, which
    /// PostgreSQL runs as one implicit transaction (so the setting still ends with it). For hot
    /// paths: against a database a millisecond away, BEGIN/query/COMMIT would cost three.
    /// </summary>
    public Task<T?> QuerySingleAsync<T>(
        DbScope scope, string sql, Action<NpgsqlParameterCollection> parameters, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken)
        where T : struct =>
        QueryAsync(scope, sql, parameters, async reader => await reader.ReadAsync(cancellationToken) ? read(reader) : (T?)null, cancellationToken);

    /// <summary>Every row of one read, in one round trip (see <see cref="QuerySingleAsync{T}"/>).</summary>
    public Task<List<T>> QueryListAsync<T>(
        DbScope scope, string sql, Action<NpgsqlParameterCollection> parameters, Func<NpgsqlDataReader, T> read, CancellationToken cancellationToken) =>
        QueryAsync(scope, sql, parameters, async reader =>
        {
            var rows = new List<T>();
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add(read(reader));
            }

            return rows;
        }, cancellationToken);

    private async Task<T> QueryAsync<T>(
        DbScope scope, string sql, Action<NpgsqlParameterCollection> parameters, Func<NpgsqlDataReader, Task<T>> read, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken);
        try
        {
            await using var batch = new NpgsqlBatch(connection);
            var (name, value) = Setting(scope);
            var setScope = new NpgsqlBatchCommand("SELECT set_config($1, $2, true)");
            setScope.Parameters.Add(new NpgsqlParameter { Value = name });
            setScope.Parameters.Add(new NpgsqlParameter { Value = value });
            batch.BatchCommands.Add(setScope);
            var query = new NpgsqlBatchCommand(sql);
            parameters(query.Parameters);
            batch.BatchCommands.Add(query);
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            await reader.NextResultAsync(cancellationToken);
            return await read(reader);
        }
        finally
        {
            await RequestConnection.ReturnAsync(connection);
        }
    }

    private static (string Name, string Value) Setting(DbScope scope) => scope switch
    {
        DbScope.OAuthScope => ("neotoma.scope", "oauth"),
        DbScope.UserScope user => ("neotoma.user_id", user.UserId),
        _ => throw new ArgumentOutOfRangeException(nameof(scope)),
    };

    private static async Task ApplyScopeAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, DbScope scope, CancellationToken cancellationToken)
    {
        // set_config(..., true) is SET LOCAL: the setting ends with the transaction, so a
        // pooled connection never carries one user's identity into the next request.
        var (name, value) = Setting(scope);
        await using var command = new NpgsqlCommand("SELECT set_config(@name, @value, true)", connection, transaction);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("value", value);
        await command.ExecuteScalarAsync(cancellationToken);
    }
}
