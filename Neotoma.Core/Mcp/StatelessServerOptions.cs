using Microsoft.Extensions.Options;
using ModelContextProtocol.AspNetCore;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// The MCP server's options, built once for every stateless request. The SDK asks the options factory
/// for a fresh <see cref="McpServerOptions"/> on each stateless request (every tool, filter and
/// post-configuration registered again: 5 KB a call, and 5-13 % of the identity call's rate), only
/// so that it can set <c>ScopeRequests = false</c> without touching the instance its stateful sessions
/// share; and it shares that one instance among concurrent stateful sessions itself, so a server takes
/// a shared instance by design. Nothing here changes per request: the tools, filters and server info
/// are fixed at start, the user comes with each request, and a stateless server subscribes to no
/// collection's changes. A hook that shapes options per session (<c>ConfigureSessionOptions</c>) or a
/// mode with sessions gets a fresh instance each time, as the SDK would build it.
/// What this asks of the code around it: nothing may write to a server's options after they are built
/// (a tool through <c>RequestContext.Server.ServerOptions</c>, an outgoing filter editing the shared
/// <c>ServerInfo</c>), and no options setup may read the request (<c>IHttpContextAccessor</c>): either
/// would now reach every later request. None does today.
/// </summary>
internal sealed class StatelessServerOptions(
    IEnumerable<IConfigureOptions<McpServerOptions>> setups,
    IEnumerable<IPostConfigureOptions<McpServerOptions>> postConfigures,
    IEnumerable<IValidateOptions<McpServerOptions>> validations,
    IOptions<HttpServerTransportOptions> transport) : IOptionsFactory<McpServerOptions>
{
    private readonly OptionsFactory<McpServerOptions> factory = new(setups, postConfigures, validations);
    private readonly Lock building = new();
    private McpServerOptions? shared;

    public McpServerOptions Create(string name)
    {
        if (name != Options.DefaultName || transport.Value is not { SessionMode: HttpServerSessionMode.Stateless, ConfigureSessionOptions: null })
        {
            return factory.Create(name);
        }

        if (Volatile.Read(ref shared) is { } built)
        {
            return built;
        }

        // One build at a time; a build that throws (a setting's validation) is tried again by the next
        // request, as the default options cache would, not kept and thrown to every request until a restart.
        lock (building)
        {
            if (shared is null)
            {
                Volatile.Write(ref shared, factory.Create(name));
            }

            return shared;
        }
    }
}
