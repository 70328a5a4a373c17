using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core;
using Neotoma.Functions.Http;

namespace Neotoma.Functions;

public static class FunctionsServiceCollectionExtensions
{
    /// <summary>
    /// The container of both hosts (the Functions worker and the self-host): everything of
    /// <see cref="NeotomaServiceCollectionExtensions.AddNeotoma"/> plus the HTTP helpers of the functions.
    /// </summary>
    public static IServiceCollection AddNeotomaFunctions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddNeotoma(configuration);
        services.AddSingleton<OAuthRequestGuard>();
        services.AddSingleton<WebCookies>();
        return services;
    }
}
