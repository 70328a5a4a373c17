using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Neotoma.Core.Mcp;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Mcp;

/// <summary>The app, counting how often the MCP server's options are built.</summary>
public sealed class CountedServerOptionsFixture : OAuthFixture
{
    public ConfigureCounter Counter { get; } = new();

    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<IConfigureOptions<McpServerOptions>>(Counter);

    public sealed class ConfigureCounter : IConfigureOptions<McpServerOptions>
    {
        private int built;

        public int Built => Volatile.Read(ref built);

        public void Configure(McpServerOptions options) => Interlocked.Increment(ref built);
    }
}

/// <summary>
/// Issue 26: the SDK's options are built once and serve every stateless request (the SDK would build
/// them per request), and sharing them shares nothing of a person's: each call still acts for the
/// token it came with.
/// </summary>
public sealed class ServerOptionsTests(CountedServerOptionsFixture fixture) : IClassFixture<CountedServerOptionsFixture>
{
    [Fact]
    public async Task ServerOptions_AreBuiltOnce_AndConcurrentCallsOfTwoPeople_EachActForTheirOwnToken()
    {
        await using var alice = await fixture.ConnectAsync("options-alice");
        await using var bob = await fixture.ConnectAsync("options-bob");
        foreach (var (client, name) in new[] { (alice, "Alice's own"), (bob, "Bob's own") })
        {
            var stored = await client.CallToolAsync("store", new Dictionary<string, object?>
            {
                ["entities"] = new[] { new Dictionary<string, object?> { ["entity_type"] = "note", ["name"] = name } },
            });
            Assert.NotEqual(true, stored.IsError);
        }

        var builtBefore = fixture.Counter.Built;
        Assert.Equal(1, builtBefore);
        var options = fixture.Server.Services.GetRequiredService<IOptions<McpServerOptions>>().Value;
        Assert.Same(options, fixture.Server.Services.GetRequiredService<IOptionsFactory<McpServerOptions>>().Create(Options.DefaultName));
        var filters = options.Filters.Request.CallToolFilters.Count;

        // 40 calls at once, the two people's interleaved, each answer checked against who asked.
        var calls = Enumerable.Range(0, 40).Select(async i =>
        {
            var (client, login, own, other) = i % 2 == 0
                ? (alice, "options-alice", "Alice's own", "Bob's own")
                : (bob, "options-bob", "Bob's own", "Alice's own");
            var who = Json(await client.CallToolAsync("get_authenticated_user"));
            Assert.Contains(login, who.GetProperty("user_id").GetString());
            var names = Json(await client.CallToolAsync("retrieve_entities", new Dictionary<string, object?> { ["entity_type"] = "note" }))
                .GetProperty("entities").EnumerateArray().Select(entity => entity.GetProperty("canonical_name").GetString() ?? "").ToArray();
            Assert.Equal(new[] { own }, names);
            Assert.DoesNotContain(other, names);
        });
        await Task.WhenAll(calls);

        Assert.Equal(builtBefore, fixture.Counter.Built);
        // Nothing is added to the shared options per request.
        Assert.Equal(filters, options.Filters.Request.CallToolFilters.Count);
    }

    [Fact]
    public void ATransportWithSessionsOrThatShapesOptionsPerSession_GetsAFreshInstanceEachTime()
    {
        var shaped = Factory(new HttpServerTransportOptions
        {
            Stateless = true,
            ConfigureSessionOptions = (_, _, _) => Task.CompletedTask,
        });
        var withSessions = Factory(new HttpServerTransportOptions { Stateless = false });
        var stateless = Factory(new HttpServerTransportOptions { Stateless = true });

        Assert.NotSame(shaped.Create(Options.DefaultName), shaped.Create(Options.DefaultName));
        Assert.NotSame(withSessions.Create(Options.DefaultName), withSessions.Create(Options.DefaultName));
        Assert.Same(stateless.Create(Options.DefaultName), stateless.Create(Options.DefaultName));
    }

    [Fact]
    public void ABuildThatFails_IsTriedAgainByTheNextRequest_NotKept()
    {
        var fail = true;
        var factory = Factory(new HttpServerTransportOptions { Stateless = true },
            services => services.Configure<McpServerOptions>(_ =>
            {
                if (fail)
                {
                    throw new InvalidOperationException("the first build fails");
                }
            }));

        Assert.Equal("the first build fails", Assert.Throws<InvalidOperationException>(() => factory.Create(Options.DefaultName)).Message);
        fail = false;
        var built = factory.Create(Options.DefaultName);

        Assert.Same(built, factory.Create(Options.DefaultName));
    }

    private static IOptionsFactory<McpServerOptions> Factory(HttpServerTransportOptions transport, Action<IServiceCollection>? more = null)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMcpServer().WithHttpTransport();
        services.AddSingleton<IOptionsFactory<McpServerOptions>, StatelessServerOptions>();
        services.AddSingleton(Options.Create(transport));
        more?.Invoke(services);
        return services.BuildServiceProvider().GetRequiredService<IOptionsFactory<McpServerOptions>>();
    }

    private static JsonElement Json(CallToolResult result)
    {
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.True(result.IsError != true, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
