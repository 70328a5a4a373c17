using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Neotoma.Core.Configuration;
using Neotoma.Core.Diagnostics;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Health;
using Neotoma.Core.Maintenance;
using Neotoma.Core.Mcp;
using Neotoma.Core.OAuth;
using Neotoma.Core.Security;
using Neotoma.Core.Truth;
using Neotoma.Core.Upstream;
using Neotoma.Core.Web;
using Neotoma.Core.Storage;
using Azure.Core;
using Azure.Identity;
using Azure.Security.KeyVault.Secrets;
using Npgsql;

namespace Neotoma.Core;

public static class NeotomaServiceCollectionExtensions
{
    /// <summary>
    /// Every registration Neotoma needs, for every host: the Functions worker, the
    /// self-host and the tests build the same container from this one call.
    /// </summary>
    public static IServiceCollection AddNeotoma(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddNeotomaStorage(configuration);
        services.Configure<LoggerFilterOptions>(LoggingRules.ApplyDefaults);
        services.PostConfigure<LoggerFilterOptions>(LoggingRules.ApplyCaps);
        AddOAuth(services, configuration);

        services.AddSingleton<HealthService>();
        services.AddSingleton(new CleanupOptions
        {
            ClientRetention = TimeSpan.FromDays(Integer(configuration, SettingNames.ClientRetentionDays, 90)),
            AuditRetention = TimeSpan.FromDays(Integer(configuration, SettingNames.AuditRetentionDays, 90)),
        });
        services.AddSingleton<JwtIds>();
        services.AddSingleton<StateCleanupService>();
        return services;
    }

    /// <summary>The database alone: what `migrate` needs, without the OAuth settings.</summary>
    public static IServiceCollection AddNeotomaStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);

        var database = new DatabaseOptions
        {
            ConnectionString = Required(configuration, SettingNames.DatabaseConnectionString),
            MigrateOnStartup = !string.Equals(configuration[SettingNames.MigrateOnStartup], "false", StringComparison.OrdinalIgnoreCase),
        };
        services.AddSingleton(database);
        var auth = configuration[SettingNames.DatabaseAuth] is { Length: > 0 } value ? value.ToLowerInvariant() : "password";
        if (auth is not ("password" or "entra"))
        {
            throw new NeotomaConfigurationException(SettingNames.DatabaseAuth, $"{SettingNames.DatabaseAuth} must be password or entra; got '{auth}'.");
        }

        services.AddSingleton(sp => BuildDataSource(sp, database.ConnectionString, auth));
        // Migrations (a session advisory lock) and LISTEN need a session of their own: behind a
        // transaction-mode pooler they take the server's direct port (DATABASE_DIRECT_CONNECTION_STRING).
        var direct = configuration[SettingNames.DatabaseDirectConnectionString] is { Length: > 0 } directString ? directString : null;
        services.AddSingleton(sp => new DirectDatabase(direct is null ? sp.GetRequiredService<NpgsqlDataSource>() : BuildDataSource(sp, direct, auth)));
        services.AddSingleton<NeotomaDatabase>();
        services.AddSingleton(sp => new DatabaseMigrator(sp.GetRequiredService<DirectDatabase>().DataSource, sp.GetRequiredService<ILogger<DatabaseMigrator>>()));
        services.AddHostedService<MigrationHostedService>();
        return services;
    }

    private static NpgsqlDataSource BuildDataSource(IServiceProvider sp, string connectionString, string auth)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (!connectionString.Contains("Auto Prepare", StringComparison.OrdinalIgnoreCase))
        {
            // Every query is fixed SQL, so a statement used five times is worth preparing once per
            // connection: PostgreSQL then skips planning (about a fifth of a retrieve_entities call).
            builder.ConnectionStringBuilder.MaxAutoPrepare = 64;
        }

        if (auth == "entra")
        {
            // Azure Database for PostgreSQL with Entra authentication: the password is a token of the
            // app's managed identity, renewed before it expires, so no secret sits in app settings.
            var credential = sp.GetService<TokenCredential>() ?? new DefaultAzureCredential();
            var scope = new TokenRequestContext(["https://ossrdbms-aad.database.windows.net/.default"]);
            builder.UsePeriodicPasswordProvider(
                async (_, cancellationToken) => (await credential.GetTokenAsync(scope, cancellationToken)).Token,
                TimeSpan.FromMinutes(30), TimeSpan.FromSeconds(10));
        }

        return builder.Build();
    }

    private static void AddOAuth(IServiceCollection services, IConfiguration configuration)
    {
        var personalTokenDays = Integer(configuration, SettingNames.PersonalTokenMaxDays, 90);
        if (personalTokenDays is < 1 or > 3650)
        {
            throw new NeotomaConfigurationException(SettingNames.PersonalTokenMaxDays, $"{SettingNames.PersonalTokenMaxDays} must be 1 to 3650 days; got {personalTokenDays}.");
        }

        var server = new OAuthServerOptions
        {
            Issuer = OAuthServerOptions.NormalizeApiBase(Required(configuration, SettingNames.ApiBase), SettingNames.ApiBase),
            PersonalTokenMaxLifetime = TimeSpan.FromDays(personalTokenDays),
        };
        services.AddSingleton(server);
        AddEncryptionKeys(services, configuration);

        var presetText = configuration[SettingNames.UpstreamPreset];
        if (!Enum.TryParse<UpstreamPreset>(string.IsNullOrWhiteSpace(presetText) ? "oidc" : presetText, ignoreCase: true, out var preset))
        {
            throw new NeotomaConfigurationException(SettingNames.UpstreamPreset, $"{SettingNames.UpstreamPreset} must be oidc, entra or supabase; got '{presetText}'.");
        }

        var clientId = configuration[SettingNames.UpstreamClientId];
        services.AddSingleton(new UpstreamOptions
        {
            Issuer = OAuthServerOptions.NormalizeIssuer(Required(configuration, SettingNames.UpstreamIssuer), SettingNames.UpstreamIssuer),
            Preset = preset,
            ClientId = string.IsNullOrWhiteSpace(clientId) ? configuration[SettingNames.SupabaseClientId] : clientId,
            ClientSecret = configuration[SettingNames.UpstreamClientSecret],
            Scopes = configuration[SettingNames.UpstreamScopes] is { Length: > 0 } scopes ? scopes : UpstreamOptions.DefaultScopes(preset),
            RedirectUri = server.CallbackEndpoint,
        });
        // Well below an MCP client's own timeout, so a provider that hangs is answered as 503 OAUTH_UPSTREAM_UNAVAILABLE
        // while the client still waits, instead of the client giving up and retrying a refresh it thinks failed.
        var upstreamTimeout = TimeSpan.FromSeconds(Integer(configuration, SettingNames.UpstreamTimeoutSeconds, 5));
        services.AddHttpClient(UpstreamIdentityProvider.HttpClientName, client => client.Timeout = upstreamTimeout);
        services.AddSingleton(new ClientMetadataDocumentOptions());
        services.AddSingleton<DocumentFetchFence>();
        services.AddSingleton<ClientMetadataDocuments>();
        services.AddHttpClient(ClientMetadataDocuments.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => ClientMetadataDocuments.CreateHandler(sp.GetRequiredService<DocumentFetchFence>()));
        // private_key_jwt: the client's keys come through the documents' fenced client; jti are remembered in PostgreSQL (JwtIds).
        services.AddSingleton(new ClientJwksOptions());
        services.AddSingleton<ClientJwks>();
        services.AddSingleton<ClientAssertions>();

        services.AddSingleton(new RateLimitOptions
        {
            InitiatePerMinute = Integer(configuration, SettingNames.RateLimitInitiate, 5),
            CallbackPerMinute = Integer(configuration, SettingNames.RateLimitCallback, 10),
            TokenPerMinute = Integer(configuration, SettingNames.RateLimitToken, 20),
            RegisterPerMinute = Integer(configuration, SettingNames.RateLimitRegister, 10),
            RevokePerMinute = Integer(configuration, SettingNames.RateLimitRevoke, 20),
        });
        services.AddSingleton<RateLimiter>();
        services.AddSingleton(new ClientIpResolver(Integer(configuration, SettingNames.TrustedProxyCount, 0)));

        services.AddSingleton<UpstreamIdentityProvider>();
        services.AddSingleton<UpstreamRevocations>();
        services.AddHostedService(sp => sp.GetRequiredService<UpstreamRevocations>());
        services.AddSingleton<AuditLog>();
        services.AddSingleton<DiscoveryDocuments>();
        services.AddSingleton<ClientRegistrationService>();
        services.AddSingleton<AuthorizationService>();
        services.AddSingleton(new WebSessionOptions());
        services.AddSingleton<WebSessions>();
        services.AddSingleton<BrowserSignIns>();
        services.AddSingleton<RememberedConsents>();
        services.AddSingleton<ConnectionsService>();
        services.AddSingleton<CallbackService>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<UpstreamSessionRefresher>();
        services.AddSingleton<TokenRevocation>();
        services.AddSingleton<AccessTokenValidator>();
        services.AddSingleton(sp => new AccessTokenCache(
            TimeSpan.FromSeconds(Integer(configuration, SettingNames.AccessTokenCacheSeconds, 5)), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<RevocationListener>();
        services.AddHostedService(sp => sp.GetRequiredService<RevocationListener>());
        services.AddSingleton<BearerAuthenticator>();
        services.AddSingleton<McpEndpoint>();
        var issuerOrigin = new Uri(server.Issuer).GetLeftPart(UriPartial.Authority);
        services.AddSingleton(new McpOptions
        {
            MaxBodyBytes = Integer(configuration, SettingNames.McpMaxBodyBytes, 1024 * 1024),
            AllowedOrigins = (configuration[SettingNames.McpAllowedOrigins] ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(origin => origin.TrimEnd('/'))
                .Append(issuerOrigin)
                .ToHashSet(StringComparer.OrdinalIgnoreCase),
            LoopbackServer = McpOptions.IsLoopbackOrigin(issuerOrigin),
        });
        services.AddSingleton<Microsoft.Extensions.Options.IPostConfigureOptions<ModelContextProtocol.Server.McpServerOptions>, PortableSchemas.Setup>();
        services.AddHttpContextAccessor();
        services.AddMcpServer(mcp => mcp.ServerInfo = new() { Name = "neotoma", Version = "1.0.0" })
            .WithHttpTransport(http => http.Stateless = true)
            .WithRequestFilters(filters => filters.AddCallToolFilter(ToolScopes.Filter).AddCallToolFilter(ToolArgumentCheck.Filter))
            .WithTools<IdentityTools>(ToolJson.Options)
            .WithTools<TruthTools>(ToolJson.Options);
        services.AddSingleton(new TruthOptions
        {
            MaxEntitiesPerStore = Integer(configuration, SettingNames.StoreMaxEntities, 100),
        });
        services.AddSingleton<TruthStore>();
    }

    private static void AddEncryptionKeys(IServiceCollection services, IConfiguration configuration)
    {
        var ring = new KeyRing();
        services.AddSingleton(ring);
        services.AddSingleton<TokenCipher>();
        services.AddSingleton<KeyRotationService>();
        var vault = configuration[SettingNames.KeyVaultUri];
        if (string.IsNullOrWhiteSpace(vault))
        {
            // Checked here so a missing or malformed key stops the app at start-up, with the guide's code and fix.
            ring.Set(configuration[SettingNames.EncryptionKey] ?? "",
                (configuration[SettingNames.PreviousEncryptionKeys] ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                SettingNames.EncryptionKey);
            return;
        }

        if (!Uri.TryCreate(vault, UriKind.Absolute, out var vaultUri) || vaultUri.Scheme != "https")
        {
            throw new NeotomaConfigurationException(SettingNames.KeyVaultUri, $"{SettingNames.KeyVaultUri} must be the vault's https URI (https://<name>.vault.azure.net/); got '{vault}'.");
        }

        services.AddSingleton(new KeyVaultOptions
        {
            VaultUri = vaultUri,
            SecretName = configuration[SettingNames.KeyVaultSecretName] is { Length: > 0 } name ? name : "mcp-token-encryption-key",
        });
        // The app's managed identity in Azure; a developer's az login locally. Injectable for tests.
        services.TryAddSingleton<TokenCredential>(_ => new DefaultAzureCredential());
        services.TryAddSingleton(new SecretClientOptions());
        services.AddSingleton(sp => new SecretClient(vaultUri, sp.GetRequiredService<TokenCredential>(), sp.GetRequiredService<SecretClientOptions>()));
        services.AddSingleton<EncryptionKeyLoader>();
        services.AddHostedService(sp => sp.GetRequiredService<EncryptionKeyLoader>());
    }

    internal static int Integer(IConfiguration configuration, string name, int defaultValue)
    {
        var value = configuration[name];
        if (string.IsNullOrWhiteSpace(value))
        {
            return defaultValue;
        }

        return int.TryParse(value, out var parsed) && parsed >= 0
            ? parsed
            : throw new NeotomaConfigurationException(name, $"{name} must be a whole number of 0 or more; got '{value}'.");
    }

    internal static string Required(IConfiguration configuration, string name)
    {
        var value = configuration[name];
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new NeotomaConfigurationException(name, $"The setting {name} is required. See docs/configuration.md.");
        }

        return value;
    }
}
