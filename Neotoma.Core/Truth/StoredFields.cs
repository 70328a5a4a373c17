using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;

namespace Neotoma.Core.Truth;

/// <summary>
/// An object of fields as PostgreSQL returned it from a jsonb column (an entity's snapshot, an
/// observation, a relationship), kept as that text and written into an answer as it is. The reads
/// used to parse it into a dictionary of values, which made a JSON document per field only for the
/// serializer to write each value back out: for a page of 100 entities with three fields, 300
/// documents a call. The SDK parses the whole answer once for <c>structuredContent</c> anyway and
/// writes every value again from its own parse, so an answer's bytes are the same as before (compared
/// byte for byte on a page with quotes, backslashes, text in other scripts, numbers and nesting).
/// </summary>
/// <remarks>
/// The text is written unchecked: PostgreSQL returns only valid JSON from jsonb, and a value that was
/// not would fail the SDK's parse of the answer (a tool error), never reach a client as broken JSON.
/// </remarks>
[JsonConverter(typeof(Converter))]
public sealed class StoredFields
{
    private readonly string json;

    private StoredFields(string json) => this.json = json;

    /// <summary>
    /// The fields of a jsonb value that is an object. Every fields column holds one by construction (the
    /// store writes objects only); one that did not would break the answer's schema, so it is refused here.
    /// </summary>
    public static StoredFields FromJsonb(string json) =>
        json.AsSpan().TrimStart() is ['{', ..] ? new(json) : throw new InvalidOperationException("a stored fields value is not a JSON object");

    public override string ToString() => json;

    /// <summary>
    /// The schema a <see cref="StoredFields"/> member has in a tool's output schema: an object of any
    /// fields, as the dictionary it replaced had. The schema generator cannot see through a converter:
    /// without this it would let any JSON value stand there.
    /// </summary>
    internal static JsonNode Schema(AIJsonSchemaCreateContext context, JsonNode schema) =>
        context.TypeInfo.Type == typeof(StoredFields) ? new JsonObject { ["type"] = "object" } : schema;

    private sealed class Converter : JsonConverter<StoredFields>
    {
        public override StoredFields Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? new StoredFields(document.RootElement.GetRawText())
                : throw new JsonException("fields must be a JSON object");
        }

        public override void Write(Utf8JsonWriter writer, StoredFields value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value.json, skipInputValidation: true);
    }
}
