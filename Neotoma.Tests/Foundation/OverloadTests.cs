using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;
using Neotoma.Tests.Infrastructure;
using Npgsql;

namespace Neotoma.Tests.Foundation;

/// <summary>
/// Overload answered clearly (issue 26): an instance whose connection pool is busy answers /mcp 503
/// with Retry-After within DATABASE_POOL_WAIT_SECONDS, before the SDK has sent a 200 it could not take
/// back, and serves again as soon as a connection is free. Here the instance has a pool of one.
/// </summary>
public sealed class OverloadTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private const string RetrieveCall =
        """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"retrieve_entities","arguments":{"limit":5}}}""";

    private Task<SelfHostServer> StartOneConnectionInstanceAsync() => fixture.StartSecondInstanceAsync(settings =>
    {
        settings[SettingNames.DatabaseConnectionString] = fixture.Database.AppConnectionString + ";Maximum Pool Size=1";
        settings[SettingNames.DatabasePoolWaitSeconds] = "1";
        // The fixture's instance has migrated; migrating needs two connections (the lock and DbUp's).
        settings[SettingNames.MigrateOnStartup] = "false";
        // The bearer check answers from its cache, so the only wait for the pool is the one the function asks.
        settings[SettingNames.AccessTokenCacheSeconds] = "60";
    });

    [Fact]
    public async Task ToolCall_OnAPoolOfOne_RunsOnTheConnectionTheFunctionTook()
    {
        await using var instance = await StartOneConnectionInstanceAsync();
        var (tokens, _) = await fixture.SignInAsync("overload-one");

        // Were the call's queries to ask the pool again, they would wait behind the function's own
        // connection and fail: the answer is a result only when they run on that connection.
        for (var i = 0; i < 3; i++)
        {
            var response = await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.True(body.Contains("\"entities\""), body);
            Assert.DoesNotContain("\"isError\":true", body);
        }
    }

    [Fact]
    public async Task ToolCall_WhenThePoolIsBusy_Is503WithRetryAfter_BeforeTheSdkAnswers_AndServesOnceFree()
    {
        await using var instance = await StartOneConnectionInstanceAsync();
        var (tokens, _) = await fixture.SignInAsync("overload-busy");
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance)).StatusCode);

        var dataSource = instance.Services.GetRequiredService<NpgsqlDataSource>();
        HttpResponseMessage refused;
        var clock = Stopwatch.StartNew();
        await using (await dataSource.OpenConnectionAsync())
        {
            refused = await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance);
        }

        var waited = clock.Elapsed;
        var body = await refused.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("overloaded", body);
        Assert.Contains("Try again", body);
        Assert.True(waited < TimeSpan.FromSeconds(10), $"the refusal took {waited}, not about the 1 s the pool wait allows");

        var served = await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        var servedBody = await served.Content.ReadAsStringAsync();
        Assert.True(servedBody.Contains("\"entities\""), servedBody);
    }

    /// <summary>
    /// A request that cannot use the database takes no connection: while the only one is held, the
    /// tool list and the identity tool of a token checked moments ago are answered in full, and a call of a tool that reads the store
    /// (its name escaped, as a client may send it) is still refused before the SDK answers.
    /// </summary>
    [Fact]
    public async Task CallsThatCannotUseTheDatabase_AreAnsweredWhileThePoolIsBusy()
    {
        await using var instance = await StartOneConnectionInstanceAsync();
        var (tokens, _) = await fixture.SignInAsync("overload-nodb");
        // The token is checked against the database until the instance hears its revocation channel
        // (only then does it cache tokens): the warm-up call is made after, so the check is cached.
        await RevocationChannel.WaitForAsync(instance, RevocationChannelState.Hearing, TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance)).StatusCode);

        var dataSource = instance.Services.GetRequiredService<NpgsqlDataSource>();
        await using (await dataSource.OpenConnectionAsync())
        {
            var listed = await fixture.SendMcpAsync(tokens.AccessToken, """{"jsonrpc":"2.0","id":3,"method":"tools/list"}""", instance: instance);
            var listedBody = await listed.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, listed.StatusCode);
            Assert.True(listedBody.Contains("\"retrieve_entities\""), listedBody);

            var identity = await fixture.SendMcpAsync(tokens.AccessToken,
                """{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"get_authenticated_user","arguments":{}}}""", instance: instance);
            var identityBody = await identity.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, identity.StatusCode);
            Assert.True(identityBody.Contains("\"user_id\""), identityBody);
            Assert.DoesNotContain("\"isError\":true", identityBody);

            var escaped = await fixture.SendMcpAsync(tokens.AccessToken,
                """{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"retrieve\u005fentities","arguments":{"limit":5}}}""", instance: instance);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, escaped.StatusCode);
            Assert.NotNull(escaped.Headers.RetryAfter);
        }
    }

    /// <summary>
    /// A body sent slowly holds nothing but its own socket: the function reads it whole before it takes a
    /// connection, so a handful of slow senders cannot hold the pool and turn every other request into a 503.
    /// </summary>
    [Fact]
    public async Task SlowlySentBody_HoldsNoConnection_OtherCallsAreServedMeanwhile()
    {
        await using var instance = await StartOneConnectionInstanceAsync();
        var (tokens, _) = await fixture.SignInAsync("overload-slow");
        Assert.Equal(HttpStatusCode.OK, (await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance)).StatusCode);

        var rest = new TaskCompletionSource();
        var slow = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = new StallingContent(RetrieveCall, rest.Task) };
        slow.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        slow.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        slow.Headers.Accept.ParseAdd("application/json");
        slow.Headers.Accept.ParseAdd("text/event-stream");
        var slowAnswer = instance.Client.SendAsync(slow);
        await Task.Delay(300);

        var meanwhile = await fixture.SendMcpAsync(tokens.AccessToken, RetrieveCall, instance: instance);
        var body = await meanwhile.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, meanwhile.StatusCode);
        Assert.True(body.Contains("\"entities\""), body);

        rest.SetResult();
        Assert.Equal(HttpStatusCode.OK, (await slowAnswer).StatusCode);
    }

    /// <summary>A JSON body whose first half is sent at once and the rest only when <paramref name="rest"/> completes.</summary>
    private sealed class StallingContent(string json, Task rest) : HttpContent
    {
        private readonly byte[] bytes = System.Text.Encoding.UTF8.GetBytes(json);

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(bytes.AsMemory(0, bytes.Length / 2));
            await stream.FlushAsync();
            await rest;
            await stream.WriteAsync(bytes.AsMemory(bytes.Length / 2));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = bytes.Length;
            return true;
        }
    }
}
