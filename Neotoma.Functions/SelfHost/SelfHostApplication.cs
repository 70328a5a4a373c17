using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Neotoma.Core;

namespace Neotoma.Functions.SelfHost;

/// <summary>
/// Serves the function classes of this assembly on Kestrel, for machines without Azure
/// Functions Core Tools: the same routes (host.json's routePrefix included), the same
/// container (<see cref="FunctionsServiceCollectionExtensions.AddNeotomaFunctions"/>), the same timers.
/// </summary>
public static class SelfHostApplication
{
    /// <param name="configure">Runs before the container is built from configuration (tests add settings here).</param>
    /// <param name="overrideServices">Runs after <c>AddNeotomaFunctions</c> (tests replace a service here).</param>
    public static WebApplication Build(
        string[] args,
        Action<WebApplicationBuilder>? configure = null,
        Action<IServiceCollection>? overrideServices = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });

        // Lowest precedence first: local.settings.json, then environment, then command line.
        var sources = builder.Configuration.Sources;
        var local = new ConfigurationBuilder().AddLocalSettings(Path.Combine(AppContext.BaseDirectory, "local.settings.json"));
        foreach (var source in local.Sources.Reverse())
        {
            sources.Insert(0, source);
        }

        configure?.Invoke(builder);

        var routePrefix = HostSettings.ReadRoutePrefix(Path.Combine(AppContext.BaseDirectory, "host.json"));
        var catalog = FunctionCatalog.Discover(typeof(SelfHostApplication).Assembly);
        builder.Services.AddNeotomaFunctions(builder.Configuration);
        builder.Services.AddMvcCore();
        builder.Services.AddSingleton(catalog);
        builder.Services.AddHostedService<TimerFunctionScheduler>();
        overrideServices?.Invoke(builder.Services);

        var app = builder.Build();
        foreach (var function in catalog.Http)
        {
            app.MapMethods(function.Template(routePrefix), function.Methods, context => FunctionInvoker.InvokeHttpAsync(context, function))
                .WithDisplayName(function.Name);
        }

        SelfHostLog.Serving(app.Logger, catalog.Http.Count, catalog.Timers.Count, routePrefix);
        return app;
    }
}
