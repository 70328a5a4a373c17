using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using ModelContextProtocol.Protocol;

namespace Neotoma.Core.Mcp;

/// <summary>
/// A tool's answer from one serialization of its result: the JSON bytes are parsed once for
/// <c>structuredContent</c> and decoded once for the text copy the spec asks for. Returning the record
/// itself, the SDK serializes it twice (once to a JSON element, once more to the text), which for a page
/// of 100 entities is about a tenth of a call's work. The bytes are those the SDK wrote (the same
/// serializer, <see cref="ToolJson"/>), so clients see the same answer; the tool declares its record as
/// <c>OutputSchemaType</c>, so they see the same output schema too. For records whose schema is an
/// object (every tool's is; the tool-contract tests require it): the SDK wraps any other result in
/// <c>{"result": …}</c> for clients of older protocol versions, which a ready-made answer skips.
/// </summary>
public static class ToolAnswer
{
    public static CallToolResult Of<T>(T value)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(value, (JsonTypeInfo<T>)ToolJson.Options.GetTypeInfo(typeof(T)));
        return new CallToolResult
        {
            StructuredContent = JsonElement.Parse(json),
            Content = [new TextContentBlock { Text = Encoding.UTF8.GetString(json) }],
        };
    }

    public static async Task<CallToolResult> Of<T>(Task<T> value) => Of(await value);
}
