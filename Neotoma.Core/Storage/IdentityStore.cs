namespace Neotoma.Core.Storage;

/// <summary>
/// <c>mcp_oauth_identities</c>: the only code with SQL for it. A person as an identity provider names them
/// (issuer, subject), mapped to the Neotoma user id that every other table uses.
/// </summary>
public static class IdentityStore
{
    /// <summary>
    /// The user id of (<paramref name="issuer"/>, <paramref name="subject"/>): the one recorded, or
    /// <paramref name="userIdIfNew"/> recorded now. One statement, so two first sign-ins of one person on two
    /// instances agree on one user id.
    /// </summary>
    public static Task<string> ResolveAsync(
        NeotomaDatabase database, string issuer, string subject, string userIdIfNew, DateTimeOffset now, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.OAuth, async (_, transaction) =>
        {
            await using var upsert = transaction.Command("""
                INSERT INTO mcp_oauth_identities (issuer, subject, user_id, created_at, last_seen_at) VALUES (@issuer, @subject, @user, @now, @now)
                ON CONFLICT (issuer, subject) DO UPDATE SET last_seen_at = excluded.last_seen_at
                RETURNING user_id
                """);
            upsert.Parameters.With("issuer", issuer).With("subject", subject).With("user", userIdIfNew).With("now", now);
            return (string)(await upsert.ExecuteScalarAsync(cancellationToken))!;
        }, cancellationToken);
}
