using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Schemas every client and model API accepts. The SDK describes an optional parameter
/// (<c>string? x = null</c>) as <c>"type": ["string", "null"], "default": null</c>; some model APIs
/// refuse union types and the MCP Inspector flags each one. An optional parameter is one that is
/// not <c>required</c>: it is expressed by leaving it out, so its input schema names one type. (A
/// client that sends null anyway is still served: <see cref="ToolArgumentCheck"/> treats it as
/// absent.) Output schemas keep their null unions, since those values really are null at times.
/// In both, a value of any type (a <see cref="JsonElement"/>) is <c>{}</c>, not the boolean schema
/// <c>true</c> the SDK writes: clients that validate tools/list against the MCP schema (Gemini CLI
/// 0.61) refuse the whole list over a boolean where a property's schema should be.
/// </summary>
public static class PortableSchemas
{
    /// <summary>
    /// The tools already rewritten. The SDK's stateless transport configures a fresh
    /// <see cref="McpServerOptions"/> for every request, over the same tool instances: rewriting them
    /// again each time cost more than half of a simple tool call's throughput.
    /// </summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<ModelContextProtocol.Protocol.Tool, object> Rewritten = new();

    public static void Apply(McpServerOptions options)
    {
        foreach (var tool in options.ToolCollection ?? [])
        {
            if (Rewritten.TryGetValue(tool.ProtocolTool, out _))
            {
                continue;
            }

            // Two first requests at once may both rewrite: the rewrite is idempotent, so both get the same schemas.
            tool.ProtocolTool.InputSchema = Rewrite(tool.ProtocolTool.InputSchema, input: true);
            if (tool.ProtocolTool.OutputSchema is { } output)
            {
                tool.ProtocolTool.OutputSchema = Rewrite(output, input: false);
            }

            Rewritten.AddOrUpdate(tool.ProtocolTool, Rewritten);
        }
    }

    public static JsonElement Rewrite(JsonElement schema, bool input = true)
    {
        var node = JsonNode.Parse(schema.GetRawText())!;
        Simplify(node, input);
        return JsonSerializer.SerializeToElement(node);
    }

    /// <summary>Where a keyword's value is a schema, or an object or array of schemas.</summary>
    private static readonly HashSet<string> SchemaKeywords = ["properties", "items", "additionalProperties", "prefixItems", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions"];

    private static void Simplify(JsonNode? node, bool input)
    {
        switch (node)
        {
            case JsonObject schema:
                foreach (var keyword in SchemaKeywords)
                {
                    if (schema[keyword] is JsonValue value && value.GetValueKind() == JsonValueKind.True)
                    {
                        schema[keyword] = new JsonObject();
                    }
                    else if (keyword is "properties" or "$defs" or "definitions" && schema[keyword] is JsonObject named)
                    {
                        foreach (var (name, child) in named.ToArray())
                        {
                            if (child is JsonValue { } flag && flag.GetValueKind() == JsonValueKind.True)
                            {
                                named[name] = new JsonObject();
                            }
                        }
                    }
                    else if (schema[keyword] is JsonArray list)
                    {
                        for (var i = 0; i < list.Count; i++)
                        {
                            if (list[i] is JsonValue { } flag && flag.GetValueKind() == JsonValueKind.True)
                            {
                                list[i] = new JsonObject();
                            }
                        }
                    }
                }

                if (input && schema["type"] is JsonArray types)
                {
                    var named = types.Select(t => t?.GetValue<string>()).Where(t => t is not null and not "null").ToArray();
                    schema["type"] = named.Length == 1 ? JsonValue.Create(named[0]) : new JsonArray(named.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
                }

                if (input && schema.TryGetPropertyValue("default", out var defaultValue) && defaultValue is null)
                {
                    schema.Remove("default");
                }

                foreach (var (_, child) in schema.ToArray())
                {
                    Simplify(child, input);
                }

                break;
            case JsonArray array:
                foreach (var item in array)
                {
                    Simplify(item, input);
                }

                break;
        }
    }

    internal sealed class Setup : IPostConfigureOptions<McpServerOptions>
    {
        public void PostConfigure(string? name, McpServerOptions options) => Apply(options);
    }
}
