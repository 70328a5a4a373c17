using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Neotoma.Tests.Foundation;
using Neotoma.Tests.Infrastructure;
using Neotoma.WorkerHost;

namespace Neotoma.Tests.WorkerPath;

/// <summary>
/// The app as Azure runs it: Program.cs, the worker's middleware and ASP.NET Core integration and
/// the trigger bindings as the worker resolves them, driven by <see cref="FunctionsRpcHost"/> over
/// the Functions RPC protocol, with the dev provider and a real PostgreSQL.
/// </summary>
public sealed class WorkerPathFixture : OAuthFixture
{
    /// <summary>The clock the host's timer schedules run on: a test moves it to the next five-minute mark.</summary>
    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 1, 1, 10, 2, 0, TimeSpan.Zero));

    public FunctionsRpcHost Host => ((WorkerHostServer)App).Host;

    protected override bool ThroughWorker => true;

    protected override TimeProvider WorkerTime => Clock;
}

public sealed class WorkerPathTests(WorkerPathFixture fixture) : IClassFixture<WorkerPathFixture>
{
    [Fact]
    public void Worker_DescribesOverRpcExactlyTheFunctionsOfFunctionsMetadata()
    {
        var generated = SelfHostRouteTableTests.ReadMetadata()
            .Select(f => $"{f.Name} {f.Trigger} {f.Route} {string.Join(",", f.Methods.Select(m => m.ToUpperInvariant()).Order())} {f.Schedule}")
            .Order();
        var loaded = fixture.Host.Functions
            .Select(f => $"{f.Name} {f.TriggerType} {(f.IsHttp ? f.Route : null)} {string.Join(",", f.Methods.Order())} {f.Schedule}")
            .Order();

        Assert.Equal(generated, loaded);
        Assert.Contains(fixture.Host.Functions, f => f.Name == "Mcp" && f.IsHttp);
        Assert.Contains(fixture.Host.Functions, f => f.Name == "StateCleanup" && f.IsTimer && f.Schedule == "0 */5 * * * *");
        // HTTP reaches the functions through the worker's own ASP.NET Core server.
        Assert.Equal("http", fixture.Host.WorkerHttpUri.Scheme);
    }

    [Fact]
    public async Task Health_AnswersFromTheWorker()
    {
        var response = await fixture.App.Client.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ok", body.RootElement.GetProperty("status").GetString());
        Assert.Equal("reachable", body.RootElement.GetProperty("database").GetString());
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task Discovery_NamesThisAddress()
    {
        var resource = await fixture.App.Client.GetFromJsonAsync<JsonElement>("/.well-known/oauth-protected-resource/mcp");
        var server = await fixture.App.Client.GetFromJsonAsync<JsonElement>("/.well-known/oauth-authorization-server");

        Assert.Equal(fixture.Resource, resource.GetProperty("resource").GetString());
        Assert.Equal(fixture.Issuer, server.GetProperty("issuer").GetString());
        Assert.Equal(fixture.Issuer + "/api/mcp/oauth/token", server.GetProperty("token_endpoint").GetString());
    }

    [Fact]
    public async Task Registration_CreatesAClient_AndBadInputIsA400()
    {
        var client = await fixture.RegisterAsync(name: "Worker Path Client");
        var refused = await fixture.App.Client.PostAsync("/api/mcp/oauth/register", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));

        Assert.StartsWith("mcp_", client.ClientId);
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        Assert.Contains("\"error\"", await refused.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ConsentPage_IsServedWithItsSecurityHeaders()
    {
        var client = await fixture.RegisterAsync(name: "Header Check");
        var (_, challenge) = OAuthFixture.NewPkce();

        var page = await fixture.App.Client.GetAsync(fixture.AuthorizeUrl(client, challenge));

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("Header Check", await page.Content.ReadAsStringAsync());
        Assert.Contains("frame-ancestors 'none'", page.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains(page.Headers.GetValues("Set-Cookie"), cookie => cookie.Contains("HttpOnly", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task CleanupTimer_FiresOnItsScheduleInTheWorker()
    {
        var remaining = await ExpiredStateAsync("worker-timer-expired");
        await Task.Delay(300);
        Assert.Equal(1L, await remaining());

        // 10:02 → 10:05, the next mark of "0 */5 * * * *".
        fixture.Clock.Advance(TimeSpan.FromMinutes(3));

        Assert.Equal(0L, await WaitUntilAsync(remaining, 0L));
        // The worker's log line reached the host over the RPC stream, as it reaches Azure's logs.
        Assert.True(await WaitUntilAsync(() => Task.FromResult(fixture.Logs.Lines.Any(line => line.Contains("State cleanup finished: deleted"))), true),
            string.Join('\n', fixture.Logs.Lines.TakeLast(20)));
    }

    [Fact]
    public async Task AdminApi_RunsTheTimerNow_OnlyWithTheMasterKey()
    {
        var remaining = await ExpiredStateAsync("worker-admin-expired");

        var refused = await fixture.App.Client.PostAsync("/admin/functions/StateCleanup", new StringContent("{}"));
        using var run = new HttpRequestMessage(HttpMethod.Post, "/admin/functions/StateCleanup") { Content = new StringContent("{}") };
        run.Headers.Add("x-functions-key", fixture.Host.MasterKey);
        var accepted = await fixture.App.Client.SendAsync(run);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        Assert.Equal(0L, await WaitUntilAsync(remaining, 0L));
    }

    [Fact]
    public async Task UnknownRoute_Is404_AndTheWorkerStillServes()
    {
        var missing = await fixture.App.Client.GetAsync("/api/no-such-function");
        var health = await fixture.App.Client.GetAsync("/api/health");

        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    /// <summary>An OAuth state row long expired; returns how to count it (1 until the cleanup deletes it).</summary>
    private async Task<Func<Task<long>>> ExpiredStateAsync(string state)
    {
        await fixture.Database.AdminExecuteAsync("""
            INSERT INTO mcp_oauth_state (state, connection_id, upstream_code_verifier, upstream_nonce, expires_at)
            VALUES (@state, 'c', 'v', 'n', '2000-01-01T00:00:00Z')
            """, ("state", state));
        return () => fixture.Database.AdminScalarAsync<long>("SELECT COUNT(*) FROM mcp_oauth_state WHERE state = @state", ("state", state));
    }

    private static async Task<T> WaitUntilAsync<T>(Func<Task<T>> read, T expected)
    {
        var value = await read();
        for (var attempt = 0; attempt < 200 && !EqualityComparer<T>.Default.Equals(value, expected); attempt++)
        {
            await Task.Delay(50);
            value = await read();
        }

        return value;
    }
}
