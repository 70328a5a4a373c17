using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Neotoma.Core.Configuration;
using Neotoma.Core.Diagnostics;
using Neotoma.Functions.SelfHost;
using Neotoma.Tests.Infrastructure;

namespace Neotoma.Tests.Foundation;

/// <summary>
/// Quiet by default (the framework's per-request lines at Warning, Neotoma's own at Information),
/// overridable by category, except the URL-writing categories, which no setting opens.
/// </summary>
public sealed class LoggingRulesTests
{
    private static ILoggerFactory Loggers(Dictionary<string, string?>? logging = null)
    {
        var settings = new Dictionary<string, string?>
        {
            [SettingNames.DatabaseConnectionString] = "Host=127.0.0.1;Port=1;Database=x;Username=y;Password=z",
            [SettingNames.ApiBase] = "http://localhost:8080",
            [SettingNames.EncryptionKey] = SelfHostServer.TestEncryptionKey,
            [SettingNames.UpstreamIssuer] = "http://127.0.0.1:9",
        };
        foreach (var (key, value) in logging ?? [])
        {
            settings[key] = value;
        }

        var app = SelfHostApplication.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration.Sources.Clear();
            Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(builder.Configuration, settings);
        });
        return app.Services.GetRequiredService<ILoggerFactory>();
    }

    [Fact]
    public void ByDefault_FrameworkRequestLinesAreOff_AndNeotomasOwnLinesOn()
    {
        var loggers = Loggers();

        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Routing.EndpointMiddleware").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("System.Net.Http.HttpClient.neotoma-upstream.LogicalHandler").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("ModelContextProtocol.Server.McpServer").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Neotoma.Core.OAuth.AuditLog").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Neotoma.Core.Maintenance.StateCleanupService").IsEnabled(LogLevel.Information));
        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Routing.EndpointMiddleware").IsEnabled(LogLevel.Warning));
    }

    [Fact]
    public void Configuration_ReopensACategory_ButNeverOneThatWritesUrls()
    {
        var loggers = Loggers(new()
        {
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug",
            ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "Trace",
            ["Logging:Console:LogLevel:Default"] = "Trace",
        });

        Assert.True(loggers.CreateLogger("Microsoft.AspNetCore.Routing.EndpointMiddleware").IsEnabled(LogLevel.Debug));
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.False(loggers.CreateLogger("Microsoft.AspNetCore.Mvc.Infrastructure.RedirectResultExecutor").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void HostJson_RepeatsTheDefaults_ForTheFunctionsHost()
    {
        using var hostJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(DevIdentityProvider.RepositoryRoot(), "host.json")));
        var levels = hostJson.RootElement.GetProperty("logging").GetProperty("logLevel");

        foreach (var (category, level) in LoggingRules.Defaults)
        {
            Assert.True(levels.TryGetProperty(category, out var configured), $"host.json sets no level for {category}");
            Assert.Equal(level.ToString(), configured.GetString());
        }
    }
}
