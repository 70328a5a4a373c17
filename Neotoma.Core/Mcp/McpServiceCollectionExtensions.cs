using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;
using Neotoma.Core.Configuration;
using Neotoma.Core.OAuth;

namespace Neotoma.Core.Mcp;

public static class McpServiceCollectionExtensions
{
    /// <summary>/mcp: bearer authentication, its limits and allowed origins (MCP_*), the MCP SDK's server and the tools.</summary>
    public static IServiceCollection AddNeotomaMcp(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<McpOptions>(configuration, (mcp, settings) =>
        {
            mcp.MaxBodyBytes = Settings.Integer(settings, SettingNames.McpMaxBodyBytes, mcp.MaxBodyBytes);
            var listed = (settings[SettingNames.McpAllowedOrigins] ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(origin => origin.TrimEnd('/'));
            // API_BASE's own origin always; when API_BASE is malformed its validator stops the start anyway.
            var issuerOrigin = OAuthServerOptions.IssuerOrNull(settings[SettingNames.ApiBase]) is { } issuer
                ? new Uri(issuer).GetLeftPart(UriPartial.Authority)
                : null;
            mcp.AllowedOrigins = (issuerOrigin is null ? listed : listed.Append(issuerOrigin)).ToHashSet(StringComparer.OrdinalIgnoreCase);
            mcp.LoopbackServer = issuerOrigin is not null && McpOptions.IsLoopbackOrigin(issuerOrigin);
        }, new WholeNumbersValidator<McpOptions>(configuration, SettingNames.McpMaxBodyBytes));
        services.AddSingleton<BearerAuthenticator>();
        services.AddSingleton<McpEndpoint>();
        services.AddSingleton<IPostConfigureOptions<McpServerOptions>, PortableSchemas.Setup>();
        services.AddMcpServer(mcp => mcp.ServerInfo = new() { Name = "neotoma", Version = "1.0.0" })
            .WithHttpTransport(http => http.Stateless = true)
            .WithRequestFilters(filters => filters.AddCallToolFilter(ToolScopes.Filter).AddCallToolFilter(ToolArgumentCheck.Filter).AddCallToolFilter(ToolFailures.Filter))
            .WithTools<IdentityTools>(ToolJson.Options);

        // The truth tools hold nothing per call (the store is a singleton, the user comes with each
        // call), so one instance serves every call; WithTools<T>() would build one per call.
        services.AddSingleton<TruthTools>();
        foreach (var method in typeof(TruthTools).GetMethods(BindingFlags.Public | BindingFlags.Instance)
                     .Where(method => method.GetCustomAttribute<McpServerToolAttribute>() is not null))
        {
            services.AddSingleton(provider => McpServerTool.Create(method, provider.GetRequiredService<TruthTools>(),
                new McpServerToolCreateOptions { Services = provider, SerializerOptions = ToolJson.Options, SchemaCreateOptions = ToolJson.SchemaOptions }));
        }

        services.AddSingleton<IOptionsFactory<McpServerOptions>, StatelessServerOptions>();
        return services;
    }
}
