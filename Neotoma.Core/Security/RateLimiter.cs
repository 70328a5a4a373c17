using Neotoma.Core.Storage;
using Npgsql;

namespace Neotoma.Core.Security;

public enum RateLimitedEndpoint
{
    Initiate,
    Callback,
    Token,
    Register,
    Revoke,
}

/// <summary>Requests per minute and client IP for each endpoint; 0 turns a limit off.</summary>
public sealed record RateLimitOptions
{
    public int InitiatePerMinute { get; set; } = 5;

    public int CallbackPerMinute { get; set; } = 10;

    public int TokenPerMinute { get; set; } = 20;

    public int RegisterPerMinute { get; set; } = 10;

    public int RevokePerMinute { get; set; } = 20;

    public int LimitFor(RateLimitedEndpoint endpoint) => endpoint switch
    {
        RateLimitedEndpoint.Initiate => InitiatePerMinute,
        RateLimitedEndpoint.Callback => CallbackPerMinute,
        RateLimitedEndpoint.Token => TokenPerMinute,
        RateLimitedEndpoint.Register => RegisterPerMinute,
        RateLimitedEndpoint.Revoke => RevokePerMinute,
        _ => throw new ArgumentOutOfRangeException(nameof(endpoint)),
    };
}

/// <summary>
/// The guide's rate limits, counted in PostgreSQL so every instance shares one count: a
/// client cannot reset its budget by landing on another instance. One upsert per request.
/// </summary>
public sealed class RateLimiter(NeotomaDatabase database, RateLimitOptions options, TimeProvider timeProvider)
{
    /// <summary>Counts this request; throws OAUTH_RATE_LIMITED (429) with the seconds until the window ends once over the limit.</summary>
    public async Task HitAsync(RateLimitedEndpoint endpoint, string clientIp, CancellationToken cancellationToken)
    {
        var limit = options.LimitFor(endpoint);
        if (limit <= 0)
        {
            return;
        }

        var now = timeProvider.GetUtcNow();
        var window = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        var hits = await database.InTransactionAsync(DbScope.OAuth, async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO mcp_oauth_rate_limits (bucket, window_start, hits) VALUES (@bucket, @window, 1)
                ON CONFLICT (bucket, window_start) DO UPDATE SET hits = mcp_oauth_rate_limits.hits + 1
                RETURNING hits
                """, connection, transaction);
            command.Parameters.AddWithValue("bucket", $"{endpoint}:{clientIp}");
            command.Parameters.AddWithValue("window", window);
            return (int)(await command.ExecuteScalarAsync(cancellationToken))!;
        }, cancellationToken);

        if (hits > limit)
        {
            var retryAfter = (int)Math.Ceiling((window.AddMinutes(1) - now).TotalSeconds);
            throw new RateLimitExceededException(endpoint, limit, Math.Max(retryAfter, 1));
        }
    }
}

public sealed class RateLimitExceededException(RateLimitedEndpoint endpoint, int limit, int retryAfterSeconds)
    : Exception($"Too many requests: {endpoint} allows {limit} per minute from one client. Wait {retryAfterSeconds} s and retry; check for request loops or scripts.")
{
    public int RetryAfterSeconds { get; } = retryAfterSeconds;

    public OAuthException ToOAuthException() => new(OAuthErrorCode.OAUTH_RATE_LIMITED, Message);
}
