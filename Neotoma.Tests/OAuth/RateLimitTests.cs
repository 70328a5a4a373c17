using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Neotoma.Core.Configuration;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.OAuth;

/// <summary>Guide scenario 8 and security check 3: per-IP limits shared by every instance, answered with 429 and Retry-After.</summary>
public sealed class RateLimitTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    // Half way through a minute, so that no test straddles two rate-limit windows.
    private static readonly FakeTimeProvider Clock = new(new DateTimeOffset(2026, 1, 1, 10, 0, 30, TimeSpan.Zero));

    private static Task<SelfHostServer> StartAsync(Dictionary<string, string?> settings) =>
        SelfHostServer.StartAsync(settings, services => services.AddSingleton<TimeProvider>(Clock));

    private Dictionary<string, string?> Settings(int trustedProxies = 0) => new()
    {
        [SettingNames.DatabaseConnectionString] = database.AppConnectionString,
        [SettingNames.RateLimitInitiate] = "5",
        [SettingNames.RateLimitCallback] = "10",
        [SettingNames.RateLimitToken] = "20",
        [SettingNames.RateLimitRegister] = "10",
        [SettingNames.RateLimitRevoke] = "20",
        [SettingNames.TrustedProxyCount] = trustedProxies.ToString(),
    };

    private static Task<HttpResponseMessage> InitiateAsync(SelfHostServer server, string? forwardedFor = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/mcp/oauth/initiate")
        {
            Content = new StringContent("{}", Encoding.UTF8, "application/json"),
        };
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return server.Client.SendAsync(request);
    }

    private static async Task AssertRateLimitedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        var retryAfter = response.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value.TotalSeconds, 1, 60);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("OAUTH_RATE_LIMITED", body.RootElement.GetProperty("error_code").GetString());
        Assert.False(response.Headers.Contains("WWW-Authenticate"));
    }

    [Fact]
    public async Task SixthInitiateWithinAMinute_Is429_WhicheverInstanceServesIt()
    {
        await database.AdminExecuteAsync("DELETE FROM mcp_oauth_rate_limits");
        // Both instances are behind one trusted proxy that appends the client's address.
        await using var first = await StartAsync(Settings(trustedProxies: 1));
        await using var second = await StartAsync(Settings(trustedProxies: 1));

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++)
        {
            // The client also writes its own X-Forwarded-For entry, a different one each time.
            statuses.Add((await InitiateAsync(i % 2 == 0 ? first : second, $"198.51.100.{i}, 203.0.113.7")).StatusCode);
        }

        var sixth = await InitiateAsync(second, "198.51.100.99, 203.0.113.7");

        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, statuses);
        await AssertRateLimitedAsync(sixth);
        // Another client behind the same proxy has its own budget.
        Assert.NotEqual(HttpStatusCode.TooManyRequests, (await InitiateAsync(first, "203.0.113.8")).StatusCode);
    }

    /// <summary>One host holds a whole IPv6 /64: its addresses share one budget, and another /64 has its own.</summary>
    [Fact]
    public async Task IPv6Addresses_OfOneSlash64_ShareOneBudget()
    {
        await database.AdminExecuteAsync("DELETE FROM mcp_oauth_rate_limits");
        await using var server = await StartAsync(Settings(trustedProxies: 1));

        var statuses = new List<HttpStatusCode>();
        for (var i = 1; i <= 5; i++)
        {
            statuses.Add((await InitiateAsync(server, $"2001:db8:aa:bb::{i:x}")).StatusCode);
        }

        Assert.DoesNotContain(HttpStatusCode.TooManyRequests, statuses);
        await AssertRateLimitedAsync(await InitiateAsync(server, "2001:db8:aa:bb:ffff:1234:5678:9abc"));
        Assert.NotEqual(HttpStatusCode.TooManyRequests, (await InitiateAsync(server, "2001:db8:aa:bc::1")).StatusCode);
        Assert.NotEqual(HttpStatusCode.TooManyRequests, (await InitiateAsync(server, "203.0.113.50")).StatusCode);
    }

    [Theory]
    [InlineData("203.0.113.7", "203.0.113.7")]
    [InlineData("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64")]
    [InlineData("::ffff:198.51.100.1", "198.51.100.1")]
    [InlineData("unknown", "unknown")]
    public void Bucket_IsTheIPv4Address_OrTheIPv6Slash64(string clientIp, string bucket) =>
        Assert.Equal(bucket, Neotoma.Core.Security.RateLimiter.Bucket(clientIp));

    [Fact]
    public async Task WithoutTrustedProxies_ForwardedForIsIgnored()
    {
        await database.AdminExecuteAsync("DELETE FROM mcp_oauth_rate_limits");
        await using var server = await StartAsync(Settings(trustedProxies: 0));

        for (var i = 0; i < 5; i++)
        {
            await InitiateAsync(server, $"203.0.113.{i}");
        }

        await AssertRateLimitedAsync(await InitiateAsync(server, "203.0.113.200"));
    }

    [Theory]
    [InlineData("/api/mcp/oauth/token", "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x&client_id=y", 20)]
    [InlineData("/api/mcp/oauth/register", "application/json", "{}", 10)]
    [InlineData("/api/mcp/oauth/revoke", "application/x-www-form-urlencoded", "token=never-issued", 20)]
    public async Task OtherEndpoints_RefuseTheRequestAfterTheirLimit(string path, string contentType, string body, int limit)
    {
        await database.AdminExecuteAsync("DELETE FROM mcp_oauth_rate_limits");
        await using var server = await StartAsync(Settings());

        for (var i = 0; i < limit; i++)
        {
            var allowed = await server.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType));
            Assert.NotEqual(HttpStatusCode.TooManyRequests, allowed.StatusCode);
        }

        await AssertRateLimitedAsync(await server.Client.PostAsync(path, new StringContent(body, Encoding.UTF8, contentType)));
    }

    [Fact]
    public async Task Callback_AfterTenPerMinute_Is429()
    {
        await database.AdminExecuteAsync("DELETE FROM mcp_oauth_rate_limits");
        await using var server = await StartAsync(Settings());

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.BadRequest, (await server.Client.GetAsync("/api/mcp/oauth/callback?state=unknown")).StatusCode);
        }

        var refused = await server.Client.GetAsync("/api/mcp/oauth/callback?state=unknown");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("OAUTH_RATE_LIMITED", await refused.Content.ReadAsStringAsync());
    }
}
