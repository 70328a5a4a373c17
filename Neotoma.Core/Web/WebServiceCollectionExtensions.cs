using Microsoft.Extensions.DependencyInjection;

namespace Neotoma.Core.Web;

public static class WebServiceCollectionExtensions
{
    /// <summary>The person's side: web sessions of the connections page and what the page reads and changes.</summary>
    public static IServiceCollection AddNeotomaWeb(this IServiceCollection services)
    {
        services.AddSingleton<WebSessions>();
        services.AddSingleton<ConnectionsService>();
        return services;
    }
}
