using System.Text.Json;
using Microsoft.Extensions.Configuration;

namespace Neotoma.Functions.SelfHost;

/// <summary>Reads the two files the Functions host reads: host.json and local.settings.json.</summary>
internal static class HostSettings
{
    /// <summary>extensions.http.routePrefix from host.json; "api" when absent, as in the Functions host.</summary>
    public static string ReadRoutePrefix(string hostJsonPath)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(hostJsonPath));
        return document.RootElement.TryGetProperty("extensions", out var extensions)
            && extensions.TryGetProperty("http", out var http)
            && http.TryGetProperty("routePrefix", out var prefix)
            ? prefix.GetString() ?? ""
            : "api";
    }

    /// <summary>The "Values" of local.settings.json, the settings <c>func start</c> would give the worker.</summary>
    public static IConfigurationBuilder AddLocalSettings(this IConfigurationBuilder configuration, string path)
    {
        var values = new Dictionary<string, string?>();
        if (File.Exists(path))
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.TryGetProperty("Values", out var section))
            {
                foreach (var setting in section.EnumerateObject())
                {
                    values[setting.Name] = setting.Value.ToString();
                }
            }
        }

        return configuration.AddInMemoryCollection(values);
    }
}
