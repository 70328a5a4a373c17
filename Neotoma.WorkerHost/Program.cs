using Microsoft.Extensions.Logging;
using Neotoma.WorkerHost;

// `./neotoma up --worker`: the app as Azure runs it, through the Functions RPC protocol, on one port.
// usage: Neotoma.WorkerHost <app directory> <port>; app settings come from the environment the
// caller set (DATABASE_CONNECTION_STRING, API_BASE, OIDC_*, ...), as on Azure.
if (args.Length != 2 || !int.TryParse(args[1], out var port))
{
    Console.Error.WriteLine("usage: Neotoma.WorkerHost <function app directory> <port>");
    return 2;
}

var settings = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
    .ToDictionary(entry => (string)entry.Key, entry => (string?)entry.Value);
await using var host = await FunctionsRpcHost.StartAsync(new FunctionsRpcHostOptions
{
    AppDirectory = args[0],
    Port = port,
    Localhost = true,
    Settings = settings,
    Log = line =>
    {
        if (line.Level >= LogLevel.Information)
        {
            Console.WriteLine($"[{line.Level}] {line.Category}: {line.Message}");
        }
    },
});
Console.WriteLine($"worker {host.WorkerProcessId} loaded {host.Functions.Count} functions over the Functions RPC protocol; serving http://localhost:{port} (Ctrl-C stops)");
// Ctrl-C or SIGTERM (./neotoma down): the worker gets WorkerTerminate and is waited for, as the host stops it.
var stop = new TaskCompletionSource();
using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Stop);
using var terminate = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Stop);
await stop.Task;
return 0;

void Stop(System.Runtime.InteropServices.PosixSignalContext context)
{
    context.Cancel = true;
    stop.TrySetResult();
}
