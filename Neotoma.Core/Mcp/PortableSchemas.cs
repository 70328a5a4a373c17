using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Input schemas every client and model API accepts. The SDK describes an optional parameter
/// (<c>string? x = null</c>) as <c>"type": ["string", "null"], "default": null</c>; some model APIs
/// refuse union types and the MCP Inspector flags each one. An optional parameter is one that is
/// not <c>required</c>: it is expressed by leaving it out, so its schema names one type. (A client
/// that sends null anyway is still served: <see cref="ToolArgumentCheck"/> treats it as absent.)
/// </summary>
public static class PortableSchemas
{
    public static void Apply(McpServerOptions options)
    {
        foreach (var tool in options.ToolCollection ?? [])
        {
            tool.ProtocolTool.InputSchema = Rewrite(tool.ProtocolTool.InputSchema);
        }
    }

    public static JsonElement Rewrite(JsonElement schema)
    {
        var node = JsonNode.Parse(schema.GetRawText())!;
        Simplify(node);
        return JsonSerializer.SerializeToElement(node);
    }

    private static void Simplify(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject schema:
                if (schema["type"] is JsonArray types)
                {
                    var named = types.Select(t => t?.GetValue<string>()).Where(t => t is not null and not "null").ToArray();
                    schema["type"] = named.Length == 1 ? JsonValue.Create(named[0]) : new JsonArray(named.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
                }

                if (schema.TryGetPropertyValue("default", out var defaultValue) && defaultValue is null)
                {
                    schema.Remove("default");
                }

                foreach (var (_, child) in schema.ToArray())
                {
                    Simplify(child);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Simplify(item);
                }

                break;
        }
    }

    internal sealed class Setup : IPostConfigureOptions<McpServerOptions>
    {
        public void PostConfigure(string? name, McpServerOptions options) => Apply(options);
    }
}
