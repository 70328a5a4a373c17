using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Neotoma.Core.Diagnostics;

namespace Neotoma.Tests.Infrastructure;

/// <summary>What `/api/health` says of an instance's revocation channel, and `doctor` with it.</summary>
public static class RevocationChannel
{
    public sealed record Report(string? Status, string? Reason, DateTimeOffset? HeardAt);

    public static async Task<Report> ReadAsync(IAppServer server)
    {
        using var response = await server.Client.GetAsync("/api/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        Assert.Equal("ok", root.GetProperty("status").GetString());
        return new Report(
            root.TryGetProperty("revocation_channel", out var status) ? status.GetString() : null,
            root.TryGetProperty("revocation_channel_reason", out var reason) ? reason.GetString() : null,
            root.TryGetProperty("revocation_probe_heard_at", out var heard) && heard.ValueKind == JsonValueKind.String ? heard.GetDateTimeOffset() : null);
    }

    /// <summary>Asks until the channel is <paramref name="status"/>; how long that took.</summary>
    public static Task<TimeSpan> WaitForAsync(IAppServer server, string status, TimeSpan limit) =>
        WaitForAsync(server, report => report.Status == status, limit);

    public static async Task<TimeSpan> WaitForAsync(IAppServer server, Func<Report, bool> until, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        Report report;
        while (!until(report = await ReadAsync(server)))
        {
            Assert.True(clock.Elapsed < limit, $"the revocation channel is still {report.Status} ({report.Reason}) after {limit.TotalSeconds} s");
            await Task.Delay(10);
        }

        return clock.Elapsed;
    }

    public static async Task<DoctorCheck> DoctorAsync(IAppServer server)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>()).Build();
        var checks = await new DoctorService(configuration, http, TimeProvider.System).RunAsync(server.BaseAddress, CancellationToken.None);
        return Assert.Single(checks, c => c.Name == "revocation channel");
    }
}
