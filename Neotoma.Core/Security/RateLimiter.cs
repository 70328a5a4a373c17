using Neotoma.Core.Storage;

namespace Neotoma.Core.Security;

public enum RateLimitedEndpoint
{
    Initiate,
    Callback,
    Token,
    Register,
    Revoke,

    /// <summary>The JWT bearer grant (ID-JAG), counted per client rather than per IP: an enterprise client's servers may share few addresses.</summary>
    JwtBearer,
}

/// <summary>Requests per minute and client IP for each endpoint; 0 turns a limit off.</summary>
public sealed record RateLimitOptions
{
    public int InitiatePerMinute { get; set; } = 5;

    public int CallbackPerMinute { get; set; } = 10;

    public int TokenPerMinute { get; set; } = 20;

    public int RegisterPerMinute { get; set; } = 10;

    public int RevokePerMinute { get; set; } = 20;

    public int JwtBearerPerMinute { get; set; } = 60;

    public int LimitFor(RateLimitedEndpoint endpoint) => endpoint switch
    {
        RateLimitedEndpoint.Initiate => InitiatePerMinute,
        RateLimitedEndpoint.Callback => CallbackPerMinute,
        RateLimitedEndpoint.Token => TokenPerMinute,
        RateLimitedEndpoint.Register => RegisterPerMinute,
        RateLimitedEndpoint.Revoke => RevokePerMinute,
        RateLimitedEndpoint.JwtBearer => JwtBearerPerMinute,
        _ => throw new ArgumentOutOfRangeException(nameof(endpoint)),
    };
}

/// <summary>
/// The guide's rate limits, counted in PostgreSQL so every instance shares one count: a
/// client cannot reset its budget by landing on another instance. One upsert per request.
/// </summary>
public sealed class RateLimiter(NeotomaDatabase database, RateLimitOptions options, TimeProvider timeProvider)
{
    /// <summary>Counts this request; throws OAUTH_RATE_LIMITED (429) with the seconds until the window ends (its Retry-After) once over the limit.</summary>
    /// <param name="clientIp">Who is counted: the client IP, or for <see cref="RateLimitedEndpoint.JwtBearer"/> the client_id.</param>
    public async Task HitAsync(RateLimitedEndpoint endpoint, string clientIp, CancellationToken cancellationToken)
    {
        var limit = options.LimitFor(endpoint);
        if (limit <= 0)
        {
            return;
        }

        var now = timeProvider.GetUtcNow();
        var window = new DateTimeOffset(now.Year, now.Month, now.Day, now.Hour, now.Minute, 0, TimeSpan.Zero);
        var hits = await RateLimitStore.HitAsync(database, $"{endpoint}:{Bucket(clientIp)}", window, cancellationToken);
        if (hits > limit)
        {
            var retryAfter = (int)Math.Ceiling((window.AddMinutes(1) - now).TotalSeconds);
            retryAfter = Math.Max(retryAfter, 1);
            throw new OAuthException(OAuthErrorCode.OAUTH_RATE_LIMITED,
                $"Too many requests: {endpoint} allows {limit} per minute from one client. Wait {retryAfter} s and retry; check for request loops or scripts.",
                retryAfter);
        }
    }

    /// <summary>
    /// Whose budget a request spends: an IPv4 address, or an IPv6 address's /64. One subscriber or host is
    /// given a whole /64 (RFC 6177), so counting each IPv6 address alone would give one client 2^64 budgets.
    /// </summary>
    internal static string Bucket(string clientIp)
    {
        if (!System.Net.IPAddress.TryParse(clientIp, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            return clientIp;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new System.Net.IPAddress(bytes) + "/64";
    }
}
