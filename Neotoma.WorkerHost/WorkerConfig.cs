using System.Text.Json;

namespace Neotoma.WorkerHost;

/// <summary>What the Functions host reads from the app directory before it starts a worker.</summary>
internal sealed record WorkerConfig(string Executable, string? WorkerPath)
{
    /// <summary>worker.config.json, written by the Functions worker SDK at build: the executable and the worker's path.</summary>
    public static WorkerConfig Read(string appDirectory)
    {
        var path = Path.Combine(appDirectory, "worker.config.json");
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No worker.config.json in {appDirectory}: build the function app first.", path);
        }

        using var config = JsonDocument.Parse(File.ReadAllText(path));
        var description = config.RootElement.GetProperty("description");
        var executable = description.TryGetProperty("defaultExecutablePath", out var exe) ? exe.GetString() : null;
        var worker = description.TryGetProperty("defaultWorkerPath", out var workerPath) ? workerPath.GetString() : null;
        return new WorkerConfig(string.IsNullOrEmpty(executable) ? "dotnet" : executable, string.IsNullOrEmpty(worker) ? null : worker);
    }

    /// <summary>host.json's extensions.http.routePrefix ("api" when it is not set, as in the Functions host).</summary>
    public static string RoutePrefix(string appDirectory)
    {
        var path = Path.Combine(appDirectory, "host.json");
        if (!File.Exists(path))
        {
            return "api";
        }

        using var hostJson = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        return hostJson.RootElement.TryGetProperty("extensions", out var extensions)
            && extensions.TryGetProperty("http", out var http)
            && http.TryGetProperty("routePrefix", out var prefix)
            ? prefix.GetString()?.Trim('/') ?? "api"
            : "api";
    }
}
