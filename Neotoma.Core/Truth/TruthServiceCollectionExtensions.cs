using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Neotoma.Core.Configuration;

namespace Neotoma.Core.Truth;

public static class TruthServiceCollectionExtensions
{
    /// <summary>The truth layer: entities, observations, snapshots, relationships and their limits (STORE_MAX_ENTITIES).</summary>
    public static IServiceCollection AddNeotomaTruth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSettingsOptions<TruthOptions>(configuration,
            (truth, settings) => truth.MaxEntitiesPerStore = Settings.Integer(settings, SettingNames.StoreMaxEntities, truth.MaxEntitiesPerStore),
            new WholeNumbersValidator<TruthOptions>(configuration, SettingNames.StoreMaxEntities));
        services.AddSingleton<TruthStore>();
        return services;
    }
}
