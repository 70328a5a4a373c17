using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Neotoma.Core;
using Neotoma.Core.Configuration;
using Neotoma.Core.Diagnostics;
using Neotoma.Core.Security;
using Neotoma.Core.Storage;
using Neotoma.Functions.SelfHost;

namespace Neotoma.Functions;

/// <summary>The command-line verbs of the app binary, used by ./neotoma.</summary>
internal static class Cli
{
    /// <summary>
    /// Runs a verb; a configuration or migration error is one line on stderr and exit code 1, not a stack
    /// trace. Settings the options' validators refused are listed all at once, one line each.
    /// </summary>
    public static Task<int> RunAsync(Func<Task> verb) => RunAsync(async () =>
    {
        await verb();
        return 0;
    });

    public static async Task<int> RunAsync(Func<Task<int>> verb)
    {
        try
        {
            return await verb();
        }
        catch (Exception e) when (Settings.Failures(e) is { } failures)
        {
            foreach (var failure in failures)
            {
                Console.Error.WriteLine($"neotoma: {failure}");
            }

            return 1;
        }
        catch (Exception e) when (e is NeotomaConfigurationException or MigrationFailedException or Neotoma.Core.Errors.OAuthException or Azure.RequestFailedException)
        {
            Console.Error.WriteLine($"neotoma: {e.Message}");
            return 1;
        }
    }

    private static HostApplicationBuilder CreateBuilder(string[] args)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.Sources.Insert(0, new ConfigurationBuilder()
            .AddLocalSettings(Path.Combine(AppContext.BaseDirectory, "local.settings.json")).Sources.Single());
        return builder;
    }

    /// <summary>
    /// A verb uses the container without starting the host, so it checks the settings as a start would:
    /// a bad one stops the verb before it touches the database, with every failure named.
    /// </summary>
    private static IHost Checked(IHost host)
    {
        host.Services.GetService<IStartupValidator>()?.Validate();
        return host;
    }

    /// <summary>Re-encrypts every stored upstream token with the current key (after a rotation), in batches.</summary>
    public static async Task RotateKeyAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        builder.Services.AddNeotomaFunctions(builder.Configuration);
        using var host = Checked(builder.Build());
        if (host.Services.GetService<EncryptionKeyLoader>() is { } vault)
        {
            await vault.LoadAsync(CancellationToken.None);
        }

        var report = await host.Services.GetRequiredService<KeyRotationService>().RotateAllAsync(CancellationToken.None);
        Console.WriteLine($"re-encrypted {report.Reencrypted}, already current {report.AlreadyCurrent}, unreadable {report.Unreadable}");
        if (report.Unreadable > 0)
        {
            Console.Error.WriteLine("neotoma: some connections could not be decrypted with any key; their users must sign in again.");
        }
    }

    /// <summary>The guide's quick diagnostics; exit code 1 when any check fails.</summary>
    public static async Task<int> DoctorAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        var url = builder.Configuration["url"] is { Length: > 0 } given ? new Uri(given.TrimEnd('/') + "/") : null;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var checks = await new DoctorService(builder.Configuration, http, TimeProvider.System).RunAsync(url, CancellationToken.None);
        foreach (var check in checks)
        {
            Console.WriteLine(check);
        }

        var failed = checks.Count(c => !c.Ok);
        Console.WriteLine(failed == 0 ? $"doctor: all {checks.Count} checks passed" : $"doctor: {failed} of {checks.Count} checks failed");
        return failed == 0 ? 0 : 1;
    }

    /// <summary>
    /// Registers a client for enterprise-managed authorization (an operator task, never an endpoint):
    /// <c>--name</c>, <c>--auth client_secret_basic|client_secret_post|private_key_jwt</c>, <c>--jwks-uri</c> with
    /// private_key_jwt, optionally <c>--client-id</c>. Prints the client_id and, once, the secret.
    /// </summary>
    public static async Task RegisterEnterpriseClientAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        builder.Services.AddNeotomaFunctions(builder.Configuration);
        using var host = Checked(builder.Build());
        var settings = builder.Configuration;
        var client = await host.Services.GetRequiredService<Neotoma.Core.OAuth.EnterpriseClients>().RegisterAsync(
            settings["name"] ?? "", settings["auth"] ?? Neotoma.Core.OAuth.ClientSecrets.Basic, settings["jwks-uri"], settings["client-id"], CancellationToken.None);
        Console.WriteLine($"client_id: {client.ClientId}");
        Console.WriteLine($"token_endpoint_auth_method: {client.Method}");
        if (client.ClientSecret is { } secret)
        {
            Console.WriteLine($"client_secret: {secret}");
            Console.WriteLine("(shown once: Neotoma keeps only its hash)");
        }

        Console.WriteLine("Add the client_id to the \"clients\" of its IdP in ENTERPRISE_IDPS.");
    }

    public static async Task MigrateAsync(string[] args)
    {
        var builder = CreateBuilder(args);
        builder.Services.AddNeotomaStorage(builder.Configuration);
        using var host = Checked(builder.Build());
        var migrator = host.Services.GetRequiredService<DatabaseMigrator>();
        var options = host.Services.GetRequiredService<DatabaseOptions>();
        var outcome = await migrator.MigrateAsync(CancellationToken.None);
        host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Neotoma.Migrate").LogInformation(
            "Migrated {Database}: applied [{Applied}], schema version {Version}",
            options.Describe(), string.Join(", ", outcome.Applied), outcome.CurrentVersion);
    }
}
