using System.Collections.Concurrent;
using System.IO.Compression;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.WorkerPath;

/// <summary>
/// An Application Insights ingestion endpoint on loopback: what the worker's telemetry channel
/// posts (gzip, one JSON item per line) to /v2/track or /v2.1/track is kept as text.
/// </summary>
public sealed class FakeIngestion : LoopbackApp
{
    private readonly ConcurrentQueue<string> items = new();

    private FakeIngestion()
    {
    }

    public IReadOnlyCollection<string> Items => items;

    public static async Task<FakeIngestion> StartAsync()
    {
        var ingestion = new FakeIngestion();
        await ingestion.ListenAsync();
        return ingestion;
    }

    protected override void Map(WebApplication app) => app.MapPost("/{version}/track", async (HttpRequest request) =>
    {
        Stream body = request.Headers.ContentEncoding == "gzip" ? new GZipStream(request.Body, CompressionMode.Decompress) : request.Body;
        using var reader = new StreamReader(body);
        foreach (var line in (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            items.Enqueue(line);
        }

        return Results.Json(new { itemsReceived = 1, itemsAccepted = 1, errors = Array.Empty<object>() });
    });
}

/// <summary>The worker path with Application Insights turned on, pointed at <see cref="FakeIngestion"/>.</summary>
public sealed class ApplicationInsightsWorkerFixture : OAuthFixture
{
    public FakeIngestion Ingestion { get; private set; } = null!;

    protected override bool ThroughWorker => true;

    protected override async Task BeforeStartAsync() => Ingestion = await FakeIngestion.StartAsync();

    protected override void Configure(Dictionary<string, string?> settings)
    {
        settings["APPLICATIONINSIGHTS_CONNECTION_STRING"] =
            $"InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint={Ingestion.Origin}";
        // Developer mode sends each item at once instead of every 30 seconds.
        settings["ApplicationInsights:DeveloperMode"] = "true";
    }

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        await Ingestion.DisposeAsync();
    }
}

/// <summary>
/// Program.cs wires the worker's logs to Application Insights and lifts the worker's default
/// Warning-only rule, because the guide's audit trail is Information. Only the real worker runs
/// that code: the self-host has no Application Insights.
/// </summary>
public sealed class ApplicationInsightsTests(ApplicationInsightsWorkerFixture fixture) : IClassFixture<ApplicationInsightsWorkerFixture>
{
    [Fact]
    public async Task AuditLines_ReachApplicationInsights_AsInformationTraces_WithoutSecrets()
    {
        var (tokens, _) = await fixture.SignInAsync("insights-ivy");

        string? audit = null;
        for (var attempt = 0; attempt < 200 && audit is null; attempt++)
        {
            audit = fixture.Ingestion.Items.FirstOrDefault(item => item.Contains("[MCP OAuth Audit] oauth_callback_success", StringComparison.Ordinal));
            if (audit is null)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(audit is not null, "no audit trace arrived; items: " + string.Join('\n', fixture.Ingestion.Items.Take(10)));
        Assert.Contains("\"severityLevel\":\"Information\"", audit);
        Assert.DoesNotContain(fixture.Ingestion.Items, item => item.Contains(tokens.AccessToken, StringComparison.Ordinal)
            || item.Contains(tokens.RefreshToken, StringComparison.Ordinal));
    }
}
