namespace Neotoma.Core.Storage;

/// <summary>
/// Why a transaction touches the database. Row-level security policies read the
/// settings these produce, so a transaction sees only the rows its scope allows.
/// </summary>
public abstract record DbScope
{
    private DbScope() { }

    /// <summary>The authorization server: OAuth state, clients, codes, tokens and connections.</summary>
    public static DbScope OAuth { get; } = new OAuthScope();

    /// <summary>One signed-in user: only that user's rows are visible.</summary>
    public static DbScope ForUser(string userId)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        return new UserScope(userId);
    }

    internal sealed record OAuthScope : DbScope;

    internal sealed record UserScope(string UserId) : DbScope;
}
