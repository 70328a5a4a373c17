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
    Settings = settings,
    Log = line =>
    {
        if (line.Level >= LogLevel.Information)
        {
            Console.WriteLine($"[{line.Level}] {line.Category}: {line.Message}");
        }
    },
});
Console.WriteLine($"worker {host.WorkerProcessId} loaded {host.Functions.Count} functions; serving {host.BaseAddress} through the Functions RPC protocol (Ctrl-C stops)");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.TrySetResult();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
return 0;
