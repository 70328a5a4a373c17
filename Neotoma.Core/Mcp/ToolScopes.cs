using System.Collections.Frozen;
using System.Reflection;
using System.Security.Claims;
using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Neotoma.Core.OAuth;

namespace Neotoma.Core.Mcp;

/// <summary>The scope a tool needs: every tool declares one, beside its <see cref="McpServerToolAttribute"/>.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RequiresScopeAttribute(string scope) : Attribute
{
    public string Scope { get; } = scope;
}

/// <summary>A tool call the token's scope does not allow: what to ask for and why.</summary>
public sealed record ScopeShortfall(string Tool, string Required, string Granted)
{
    public string Description => $"The tool '{Tool}' needs {Required}; this connection was approved for {Granted}.";
}

/// <summary>
/// Which scope each tool needs, read once from the tool classes. /mcp peeks at a call before the
/// SDK runs so it can answer HTTP 403 with a step-up challenge (<see cref="ShortfallOf"/>); the call
/// filter checks again inside the SDK, so a call the peek misread still cannot run. A tool that
/// declares no scope cannot be called at all.
/// </summary>
public static class ToolScopes
{
    /// <summary>The classes registered with WithTools; a test holds the two lists together through tools/list.</summary>
    private static readonly Type[] ToolTypes = [typeof(IdentityTools), typeof(TruthTools)];

    /// <summary>The public methods of the tool classes, where each tool's attributes are read.</summary>
    internal static IEnumerable<MethodInfo> ToolMethods =>
        ToolTypes.SelectMany(type => type.GetMethods(BindingFlags.Public | BindingFlags.Static | BindingFlags.Instance));

    private static readonly FrozenDictionary<string, string> ByTool = ToolMethods
        .Select(method => (Tool: method.GetCustomAttribute<McpServerToolAttribute>(), Scope: method.GetCustomAttribute<RequiresScopeAttribute>()))
        .Where(declared => declared.Tool?.Name is not null)
        .ToFrozenDictionary(
            declared => declared.Tool!.Name!,
            declared => declared.Scope?.Scope ?? throw new InvalidOperationException($"The tool '{declared.Tool!.Name}' declares no [RequiresScope]."));

    public static IReadOnlyDictionary<string, string> All => ByTool;

    /// <summary>Whether a grant allows every tool, so its calls need no peek.</summary>
    public static bool AllowsEverything(string granted) => NeotomaScopes.ResourceScopes.All(scope => NeotomaScopes.Grants(granted, scope));

    public static ScopeShortfall? ShortfallOf(string tool, string granted) =>
        ByTool.TryGetValue(tool, out var required) && !NeotomaScopes.Grants(granted, required)
            ? new ScopeShortfall(tool, required, granted)
            : null;

    /// <summary>
    /// The first tools/call in a JSON-RPC body (one message or a batch) that the grant does not
    /// allow. Anything that is not a well-formed call is left to the SDK to answer. The name is read
    /// as the SDK's serializer reads it: ignoring case, and the last one when given twice.
    /// </summary>
    public static ScopeShortfall? ShortfallOf(ReadOnlyMemory<byte> body, string granted)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            var messages = document.RootElement.ValueKind == JsonValueKind.Array
                ? document.RootElement.EnumerateArray().ToArray()
                : [document.RootElement];
            foreach (var message in messages)
            {
                if (message.ValueKind == JsonValueKind.Object
                    && message.TryGetProperty("method", out var method) && method.ValueKind == JsonValueKind.String && method.ValueEquals("tools/call")
                    && message.TryGetProperty("params", out var parameters) && parameters.ValueKind == JsonValueKind.Object
                    && NameOf(parameters) is { ValueKind: JsonValueKind.String } name
                    && ShortfallOf(name.GetString()!, granted) is { } shortfall)
                {
                    return shortfall;
                }
            }
        }
        catch (JsonException)
        {
        }

        return null;
    }

    // The params' "name" as the SDK reads it (its web defaults ignore case; the last one given counts).
    private static JsonElement? NameOf(JsonElement parameters)
    {
        JsonElement? name = null;
        foreach (var member in parameters.EnumerateObject())
        {
            if (string.Equals(member.Name, "name", StringComparison.OrdinalIgnoreCase))
            {
                name = member.Value;
            }
        }

        return name;
    }

    private static CallToolResult Refusal(string text) => new() { IsError = true, Content = [new TextContentBlock { Text = text }] };

    /// <summary>
    /// The second line: a call that reaches a tool without the scope it declares, or a tool that
    /// declares none, is answered as a tool error.
    /// </summary>
    public static McpRequestHandler<CallToolRequestParams, CallToolResult> Filter(McpRequestHandler<CallToolRequestParams, CallToolResult> next) =>
        async (context, cancellationToken) =>
        {
            var tool = context.Params?.Name ?? "";
            var granted = context.User?.FindFirstValue(BearerAuthenticator.ScopeClaim) ?? "";
            if (context.MatchedPrimitive is not McpServerTool)
            {
                // No such tool: the SDK answers that itself.
                return await next(context, cancellationToken);
            }

            if (!ByTool.ContainsKey(tool))
            {
                // A tool registered without a scope in this table fails closed, whatever it does.
                return Refusal($"The tool '{tool}' declares no scope, so no connection may call it.");
            }

            return ShortfallOf(tool, granted) is { } shortfall
                ? Refusal(shortfall.Description + " Reconnect Neotoma in your client and approve that access.")
                : await next(context, cancellationToken);
        };
}
