using System.Text.Json;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Checks a tool call's arguments against the tool's own input schema before the tool runs, so a
/// value of the wrong type is answered with the argument's path and the type it needs
/// (<c>Invalid argument limit: expected integer, got string.</c>) instead of the SDK's bare
/// "An error occurred invoking" (which hides binding errors). Types, required members and array
/// items are checked, recursively; everything else stays the tool's to validate.
/// </summary>
public static class ToolArgumentCheck
{
    public static McpRequestHandler<CallToolRequestParams, CallToolResult> Filter(McpRequestHandler<CallToolRequestParams, CallToolResult> next) =>
        async (context, cancellationToken) =>
        {
            if (context.MatchedPrimitive is McpServerTool tool && context.Params is { } call
                && Problem(tool.ProtocolTool.InputSchema, call.Arguments) is { } problem)
            {
                return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = $"Invalid argument {problem}" }] };
            }

            return await next(context, cancellationToken);
        };

    /// <summary>
    /// The first problem of the arguments (a path and what it needs), or null. The arguments are walked
    /// as the SDK parsed them: the top level is the members of an object (the call's arguments), each
    /// value checked against its property's schema.
    /// </summary>
    public static string? Problem(JsonElement schema, IDictionary<string, JsonElement>? arguments)
    {
        arguments ??= NoArguments;
        return CheckMembers(schema, arguments, arguments.ContainsKey, "");
    }

    private static readonly IDictionary<string, JsonElement> NoArguments = new Dictionary<string, JsonElement>();

    private static string? Check(JsonElement schema, JsonElement value, string path)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var types = TypesOf(schema);
        if (types.Count > 0 && !types.Any(type => Fits(type, value)))
        {
            return $"{path}: expected {string.Join(" or ", types)}, got {Describe(value)}.";
        }

        if (value.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var index = 0;
            foreach (var item in value.EnumerateArray())
            {
                if (Check(items, item, $"{path}[{index++}]") is { } problem)
                {
                    return problem;
                }
            }
        }

        return value.ValueKind == JsonValueKind.Object
            ? CheckMembers(schema, value.EnumerateObject().Select(member => KeyValuePair.Create(member.Name, member.Value)),
                name => value.TryGetProperty(name, out _), path)
            : null;
    }

    /// <summary>An object's members against the schema's required names and properties.</summary>
    private static string? CheckMembers(JsonElement schema, IEnumerable<KeyValuePair<string, JsonElement>> members, Func<string, bool> has, string path)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return null;
        }

        var required = Required(schema).ToHashSet(StringComparer.Ordinal);
        foreach (var name in required)
        {
            if (!has(name))
            {
                return $"{Join(path, name)}: is required.";
            }
        }

        if (!schema.TryGetProperty("properties", out var properties))
        {
            return null;
        }

        foreach (var (name, value) in members)
        {
            // An optional member sent as null is taken as left out (PortableSchemas: optional means absent).
            if (value.ValueKind == JsonValueKind.Null && !required.Contains(name))
            {
                continue;
            }

            if (properties.TryGetProperty(name, out var property) && Check(property, value, Join(path, name)) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    private static List<string> TypesOf(JsonElement schema) =>
        !schema.TryGetProperty("type", out var type) ? []
        : type.ValueKind == JsonValueKind.String ? [type.GetString()!]
        : type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Where(t => t.ValueKind == JsonValueKind.String).Select(t => t.GetString()!).ToList()
        : [];

    private static IEnumerable<string> Required(JsonElement schema) =>
        schema.TryGetProperty("required", out var required) && required.ValueKind == JsonValueKind.Array
            ? required.EnumerateArray().Where(r => r.ValueKind == JsonValueKind.String).Select(r => r.GetString()!)
            : [];

    private static bool Fits(string type, JsonElement value) => type switch
    {
        "string" => value.ValueKind == JsonValueKind.String,
        "integer" => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _),
        "number" => value.ValueKind == JsonValueKind.Number,
        "boolean" => value.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "array" => value.ValueKind == JsonValueKind.Array,
        "object" => value.ValueKind == JsonValueKind.Object,
        "null" => value.ValueKind == JsonValueKind.Null,
        _ => true,
    };

    private static string Describe(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "string",
        JsonValueKind.Number => value.TryGetInt64(out _) ? "integer" : "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Array => "array",
        JsonValueKind.Object => "object",
        _ => "null",
    };
}
