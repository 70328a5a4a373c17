using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Serves /mcp with the MCP SDK's own request handlers, so every protocol check of the SDK
/// applies (Accept, protocol-version headers, JSON-RPC errors). <c>MapMcp</c> is run once
/// against a throw-away route builder to capture those handlers; the /mcp function then
/// invokes them on its own HttpContext, whichever host (Functions or self-host) it runs in.
/// </summary>
public sealed class McpEndpoint(IServiceProvider services)
{
    public const string Path = "/mcp";

    private readonly Lazy<IReadOnlyDictionary<string, RouteEndpoint>> handlers = new(() => Capture(services));

    public Task HandleAsync(HttpContext context)
    {
        if (!handlers.Value.TryGetValue(context.Request.Method, out var endpoint))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = string.Join(", ", handlers.Value.Keys.Order(StringComparer.Ordinal));
            return Task.CompletedTask;
        }

        context.SetEndpoint(endpoint);
        return endpoint.RequestDelegate!(context);
    }

    private static IReadOnlyDictionary<string, RouteEndpoint> Capture(IServiceProvider services)
    {
        var builder = new CapturingRouteBuilder(services);
        builder.MapMcp(Path);
        var map = new Dictionary<string, RouteEndpoint>(StringComparer.OrdinalIgnoreCase);
        foreach (var endpoint in builder.DataSources.SelectMany(source => source.Endpoints).OfType<RouteEndpoint>())
        {
            if (endpoint.RoutePattern.RawText?.TrimEnd('/') != Path)
            {
                continue;
            }

            foreach (var method in endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? [])
            {
                map.TryAdd(method, endpoint);
            }
        }

        return map.Count > 0 ? map : throw new InvalidOperationException("MapMcp produced no /mcp endpoint.");
    }

    private sealed class CapturingRouteBuilder(IServiceProvider services) : IEndpointRouteBuilder
    {
        public IServiceProvider ServiceProvider => services;

        public ICollection<EndpointDataSource> DataSources { get; } = new List<EndpointDataSource>();

        public IApplicationBuilder CreateApplicationBuilder() => new ApplicationBuilder(services);
    }
}
