using Microsoft.Extensions.Logging;
using Neotoma.WorkerHost;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// The app as Azure runs it: the built Neotoma.Functions worker, started and driven over the
/// Functions RPC protocol by <see cref="FunctionsRpcHost"/>, reached over real HTTP at the host's port.
/// </summary>
public sealed class WorkerHostServer : IAppServer
{
    private WorkerHostServer(FunctionsRpcHost host)
    {
        Host = host;
        BaseAddress = host.BaseAddress;
        Client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = host.BaseAddress };
    }

    /// <summary>The functions.metadata the Functions SDK wrote for this configuration (the test project's build names it).</summary>
    public static string FunctionsMetadataPath { get; } = typeof(WorkerHostServer).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
        .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(attribute => attribute.Key == "FunctionsMetadataPath").Value!;

    /// <summary>The built function app beside it (worker.config.json, host.json, the worker).</summary>
    public static string AppDirectory => Path.GetDirectoryName(FunctionsMetadataPath)!;

    public FunctionsRpcHost Host { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    /// <summary>
    /// Starts the worker with the tests' settings (as app settings, in its environment) on
    /// <paramref name="port"/>; every line it logs goes to <paramref name="logs"/>.
    /// </summary>
    public static async Task<WorkerHostServer> StartAsync(IDictionary<string, string?> settings, int port, LogCollector? logs = null, TimeProvider? time = null)
    {
        var baseAddress = new Uri($"http://127.0.0.1:{port}");
        var all = SelfHostServer.TestSettings(baseAddress);
        foreach (var (name, value) in settings)
        {
            all[name] = value;
        }

        var host = await FunctionsRpcHost.StartAsync(new FunctionsRpcHostOptions
        {
            AppDirectory = AppDirectory,
            Port = port,
            Settings = all,
            Time = time ?? TimeProvider.System,
            Log = logs is null ? null : line => logs.Add(line.Level, line.Category, line.Message),
        });
        return new WorkerHostServer(host);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Host.DisposeAsync();
    }
}
