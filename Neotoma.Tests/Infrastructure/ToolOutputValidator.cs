using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Json.Schema;

namespace Neotoma.Tests.Infrastructure;

/// <summary>
/// Checks tool answers against the tools' advertised output schemas, as a host that validates does
/// (the TypeScript SDK client, the MCP Inspector): with a real JSON Schema validator (JsonSchema.Net,
/// draft 2020-12). The validation lives here, in the tests' clients, never in the product.
/// </summary>
public static class ToolOutputValidator
{
    /// <summary>The problems of <paramref name="structuredContent"/> against <paramref name="outputSchema"/>; empty when it conforms.</summary>
    public static IReadOnlyList<string> Problems(JsonElement outputSchema, JsonElement structuredContent)
    {
        var schema = JsonSchema.FromText(outputSchema.GetRawText(), new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        var results = schema.Evaluate(structuredContent, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid
            ? []
            : (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value} (schema {d.EvaluationPath})"))
                .DefaultIfEmpty("does not conform").ToList();
    }

    /// <summary>Fails the test when a tool's answer does not conform to its output schema.</summary>
    public static void AssertConforms(string tool, JsonElement outputSchema, JsonElement result)
    {
        if (result.TryGetProperty("isError", out var isError) && isError.ValueKind == JsonValueKind.True)
        {
            return;
        }

        Assert.True(result.TryGetProperty("structuredContent", out var structured), $"{tool} answered without structuredContent although it declares an outputSchema: {result}");
        var problems = Problems(outputSchema, structured);
        Assert.True(problems.Count == 0, $"{tool}'s answer does not match its outputSchema:\n{string.Join("\n", problems)}\nanswer: {structured}");
        var strays = new List<string>();
        CollectStrayMembers(outputSchema, structured, "$", strays);
        Assert.True(strays.Count == 0, $"{tool}'s answer has members its outputSchema does not list (a schema declared from another record?): {string.Join(", ", strays)}");
        Assert.True(result.TryGetProperty("content", out var content) && content.GetArrayLength() > 0, $"{tool} answered with no text content beside structuredContent");
    }

    /// <summary>
    /// Neotoma's own contract beyond what a validating host checks: every object in an answer has
    /// exactly the members its schema lists (the serializer writes every member and every schema
    /// requires them all), so an output schema declared from a looser record than the one answered
    /// (each tool names its record as <c>OutputSchemaType</c>) fails here, where it would pass a host
    /// because the schemas allow additional members.
    /// </summary>
    private static void CollectStrayMembers(JsonElement schema, JsonElement instance, string path, List<string> strays)
    {
        if (schema.TryGetProperty("anyOf", out var anyOf))
        {
            foreach (var branch in anyOf.EnumerateArray().Where(branch => Admits(branch, instance)))
            {
                CollectStrayMembers(branch, instance, path, strays);
            }

            return;
        }

        if (instance.ValueKind == JsonValueKind.Object && schema.TryGetProperty("properties", out var properties))
        {
            foreach (var member in instance.EnumerateObject())
            {
                if (properties.TryGetProperty(member.Name, out var memberSchema))
                {
                    CollectStrayMembers(memberSchema, member.Value, $"{path}.{member.Name}", strays);
                }
                else
                {
                    strays.Add($"{path}.{member.Name}");
                }
            }
        }
        else if (instance.ValueKind == JsonValueKind.Object && schema.TryGetProperty("additionalProperties", out var values) && values.ValueKind == JsonValueKind.Object)
        {
            foreach (var member in instance.EnumerateObject())
            {
                CollectStrayMembers(values, member.Value, $"{path}.{member.Name}", strays);
            }
        }
        else if (instance.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            var i = 0;
            foreach (var item in instance.EnumerateArray())
            {
                CollectStrayMembers(items, item, $"{path}[{i++}]", strays);
            }
        }
    }

    private static bool Admits(JsonElement branch, JsonElement instance) =>
        !branch.TryGetProperty("type", out var type)
        || (type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Any(one => Admits(one.GetString(), instance)) : Admits(type.GetString(), instance));

    private static bool Admits(string? type, JsonElement instance) => type switch
    {
        "object" => instance.ValueKind == JsonValueKind.Object,
        "array" => instance.ValueKind == JsonValueKind.Array,
        "null" => instance.ValueKind == JsonValueKind.Null,
        _ => instance.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array or JsonValueKind.Null),
    };
}

/// <summary>
/// Sits under a C# MCP SDK client's HttpClient: remembers the output schemas of the tools the client
/// listed and checks every tools/call answer against its tool's schema. A client that calls a tool
/// it has not listed fails the test, as a host would not do that.
/// </summary>
public sealed class ToolOutputCheckHandler() : DelegatingHandler(new HttpClientHandler())
{
    private readonly ConcurrentDictionary<string, JsonElement?> schemas = new();

    /// <summary>How many answers were checked against a schema.</summary>
    public int Checked => checkedCount;

    private int checkedCount;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var (method, tool) = request.Content is null ? (null, null) : Describe(await request.Content.ReadAsStringAsync(cancellationToken));
        if (method == "tools/call")
        {
            Assert.True(schemas.ContainsKey(tool ?? ""), $"the client called {tool} before listing it (hosts call tools/list first, and validate only what they listed)");
        }

        var response = await base.SendAsync(request, cancellationToken);
        if (method is not ("tools/list" or "tools/call") || !response.IsSuccessStatusCode || response.Content is null)
        {
            return response;
        }

        var mediaType = response.Content.Headers.ContentType;
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        var headers = response.Content.Headers.ToList();
        response.Content = new StringContent(text, Encoding.UTF8);
        response.Content.Headers.Clear();
        foreach (var (name, values) in headers)
        {
            response.Content.Headers.TryAddWithoutValidation(name, values);
        }

        if (Message(text, mediaType) is { } message && message.RootElement.TryGetProperty("result", out var result))
        {
            if (method == "tools/list")
            {
                foreach (var listed in result.GetProperty("tools").EnumerateArray())
                {
                    schemas[listed.GetProperty("name").GetString()!] = listed.TryGetProperty("outputSchema", out var output) ? output.Clone() : null;
                }
            }
            else if (schemas.TryGetValue(tool!, out var schema) && schema is { } outputSchema)
            {
                ToolOutputValidator.AssertConforms(tool!, outputSchema, result);
                Interlocked.Increment(ref checkedCount);
            }
        }

        return response;
    }

    private static (string? Method, string? Tool) Describe(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("method", out var method))
            {
                return (null, null);
            }

            var tool = root.TryGetProperty("params", out var parameters) && parameters.TryGetProperty("name", out var name) ? name.GetString() : null;
            return (method.GetString(), tool);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    /// <summary>The JSON-RPC answer: the body itself, or the data of an SSE event that carries it.</summary>
    private static JsonDocument? Message(string text, MediaTypeHeaderValue? mediaType)
    {
        var json = mediaType?.MediaType == "text/event-stream"
            ? text.Split('\n').Where(line => line.StartsWith("data:", StringComparison.Ordinal)).Select(line => line[5..].Trim()).LastOrDefault(data => data.Contains("\"result\"")) ?? ""
            : text;
        return json.Length == 0 ? null : JsonDocument.Parse(json);
    }
}
