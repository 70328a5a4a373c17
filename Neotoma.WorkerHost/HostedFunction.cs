using System.Text.Json;
using Neotoma.WorkerHost.Rpc;

namespace Neotoma.WorkerHost;

/// <summary>
/// A function as the worker described it (its metadata and raw bindings) and as this host loaded
/// it: the id the invocations name, and what triggers it (an HTTP route and methods, or a schedule).
/// </summary>
public sealed class HostedFunction
{
    private HostedFunction(RpcFunctionMetadata metadata, string id, JsonElement trigger)
    {
        Metadata = metadata;
        Id = id;
        TriggerType = trigger.GetProperty("type").GetString()!;
        TriggerName = trigger.GetProperty("name").GetString()!;
        if (IsHttp)
        {
            Route = trigger.TryGetProperty("route", out var route) && route.GetString() is { Length: > 0 } value ? value : metadata.Name;
            Methods = trigger.TryGetProperty("methods", out var methods) && methods.ValueKind == JsonValueKind.Array
                ? methods.EnumerateArray().Select(method => method.GetString()!.ToUpperInvariant()).ToArray()
                : [];
        }
        else if (IsTimer)
        {
            Schedule = trigger.GetProperty("schedule").GetString();
            RunOnStartup = trigger.TryGetProperty("runOnStartup", out var startup) && startup.ValueKind == JsonValueKind.True;
        }
    }

    public RpcFunctionMetadata Metadata { get; }

    public string Name => Metadata.Name;

    public string Id { get; }

    /// <summary>The trigger binding's type as the worker declared it (httpTrigger, timerTrigger).</summary>
    public string TriggerType { get; }

    /// <summary>The trigger binding's name: the parameter the invocation's input data is addressed to.</summary>
    public string TriggerName { get; }

    public bool IsHttp => TriggerType.Equals("httpTrigger", StringComparison.OrdinalIgnoreCase);

    public bool IsTimer => TriggerType.Equals("timerTrigger", StringComparison.OrdinalIgnoreCase);

    /// <summary>The route template, without the host's route prefix.</summary>
    public string? Route { get; }

    /// <summary>Upper-case HTTP methods; empty means any.</summary>
    public IReadOnlyList<string> Methods { get; } = [];

    /// <summary>The NCRONTAB expression (six fields, seconds first).</summary>
    public string? Schedule { get; }

    public bool RunOnStartup { get; }

    /// <summary>
    /// Reads the worker's metadata. The id is the worker's when it gave one, else a new one, as
    /// the Functions host assigns ids to functions the worker indexed without them.
    /// </summary>
    public static HostedFunction From(RpcFunctionMetadata metadata)
    {
        var id = string.IsNullOrEmpty(metadata.FunctionId) ? Guid.NewGuid().ToString() : metadata.FunctionId;
        foreach (var raw in metadata.RawBindings)
        {
            using var binding = JsonDocument.Parse(raw);
            var root = binding.RootElement;
            if (root.TryGetProperty("type", out var type) && type.GetString() is { } name && name.EndsWith("Trigger", StringComparison.OrdinalIgnoreCase))
            {
                return new HostedFunction(metadata, id, root.Clone());
            }
        }

        throw new InvalidOperationException($"The worker described function '{metadata.Name}' without a trigger binding.");
    }
}
