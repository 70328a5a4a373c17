using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using ModelContextProtocol.Server;

namespace Neotoma.Core.Mcp;

/// <summary>
/// Schemas every client and model API accepts (the MCP Inspector's <c>--strict</c> check is the
/// measure). One type per schema: a member that can be null is <c>anyOf</c> a schema of its type and
/// <c>{"type": "null"}</c>, never a <c>type</c> array, which single-type dialects (Gemini's function
/// declarations) reject or drop. In inputs, an optional parameter is one that is not
/// <c>required</c>: it is expressed by leaving it out, so the SDK's <c>["string", "null"]</c> with
/// <c>"default": null</c> becomes <c>"string"</c> (a client that sends null anyway is still served:
/// <see cref="ToolArgumentCheck"/> treats it as absent). In outputs, null really is sent
/// (<see cref="ToolJson"/> writes every member), so the null branch stays. A value of any type (a
/// <see cref="JsonElement"/>, which the SDK writes as the boolean schema <c>true</c>, refused by
/// clients that validate tools/list against the MCP schema such as Gemini CLI 0.61) is spelled as
/// <c>anyOf</c> the six JSON types, which accepts exactly what <c>true</c> did but says so. A free-form
/// object is a dictionary in the models, <c>{"type": "object"}</c> (any members, each any value).
/// </summary>
public static class PortableSchemas
{
    /// <summary>
    /// The tools already rewritten. The SDK's stateless transport asks for a fresh
    /// <see cref="McpServerOptions"/> on every request, over the same tool instances: rewriting them
    /// again each time cost more than half of a simple tool call's throughput. Neotoma builds its options
    /// once (<see cref="StatelessServerOptions"/>), but a transport with sessions or per-session options
    /// still gets a fresh instance each time, so a tool is still rewritten only once.
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
    private static readonly HashSet<string> SchemaKeywords = ["properties", "items", "prefixItems", "anyOf", "oneOf", "allOf", "not", "$defs", "definitions"];

    /// <summary>Keywords that describe a schema without constraining the value: they stay outside an anyOf.</summary>
    private static readonly HashSet<string> Annotations = ["description", "title", "default", "examples", "$comment", "readOnly", "writeOnly", "deprecated"];

    /// <summary>Keywords that constrain a value; a schema with none of them accepts anything.</summary>
    private static readonly HashSet<string> Constraints =
        ["type", "anyOf", "oneOf", "allOf", "not", "enum", "const", "$ref", "properties", "items", "prefixItems", "additionalProperties", "required", "format", "pattern"];

    private static readonly string[] JsonTypes = ["string", "number", "integer", "boolean", "object", "array", "null"];

    private static JsonObject AnyValue() =>
        new() { ["anyOf"] = new JsonArray(JsonTypes.Where(t => t != "integer").Select(t => (JsonNode?)new JsonObject { ["type"] = t }).ToArray()) };

    private static void Simplify(JsonNode? node, bool input)
    {
        switch (node)
        {
            case JsonObject schema:
                foreach (var keyword in SchemaKeywords)
                {
                    if (schema[keyword] is JsonValue value && value.GetValueKind() == JsonValueKind.True)
                    {
                        schema[keyword] = AnyValue();
                    }
                    else if (keyword is "properties" or "$defs" or "definitions" && schema[keyword] is JsonObject named)
                    {
                        foreach (var (name, child) in named.ToArray())
                        {
                            if (child is JsonValue { } flag && flag.GetValueKind() == JsonValueKind.True)
                            {
                                named[name] = AnyValue();
                            }
                            else if (child is JsonObject described && IsAnyValue(described))
                            {
                                foreach (var (key, branches) in AnyValue().ToArray())
                                {
                                    described[key] = branches?.DeepClone();
                                }
                            }
                        }
                    }
                    else if (schema[keyword] is JsonArray list)
                    {
                        for (var i = 0; i < list.Count; i++)
                        {
                            if (list[i] is JsonValue { } flag && flag.GetValueKind() == JsonValueKind.True)
                            {
                                list[i] = AnyValue();
                            }
                        }
                    }
                }

                if (schema["type"] is JsonArray types)
                {
                    var named = types.Select(t => t?.GetValue<string>()).Where(t => t is not null and not "null").Select(t => t!).ToArray();
                    if (input || named.Length == types.Count)
                    {
                        schema["type"] = named.Length == 1 ? JsonValue.Create(named[0]) : new JsonArray(named.Select(t => (JsonNode?)JsonValue.Create(t)).ToArray());
                    }
                    else
                    {
                        SplitNullable(schema, named);
                    }
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

    /// <summary>A schema with only annotations (a description, say): it accepts any value.</summary>
    private static bool IsAnyValue(JsonObject schema) => !schema.Any(member => Constraints.Contains(member.Key));

    /// <summary>
    /// <c>{"type": ["string", "null"], "format": "date-time"}</c> becomes
    /// <c>{"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}</c>: what constrains
    /// the value moves into the branch of its type, annotations stay outside.
    /// </summary>
    private static void SplitNullable(JsonObject schema, string[] types)
    {
        schema.Remove("type");
        var branches = new JsonArray();
        if (types.Length == 1)
        {
            var branch = new JsonObject { ["type"] = types[0] };
            foreach (var (key, value) in schema.ToArray().Where(member => !Annotations.Contains(member.Key)))
            {
                schema.Remove(key);
                branch[key] = value;
            }

            branches.Add(branch);
        }
        else
        {
            foreach (var type in types)
            {
                branches.Add(new JsonObject { ["type"] = type });
            }
        }

        branches.Add(new JsonObject { ["type"] = "null" });
        schema["anyOf"] = branches;
    }

    internal sealed class Setup : IPostConfigureOptions<McpServerOptions>
    {
        public void PostConfigure(string? name, McpServerOptions options) => Apply(options);
    }
}
