using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;

namespace Neotoma.Core.Truth;

/// <summary>
/// An object of fields as PostgreSQL returned it from a jsonb column (an entity's snapshot, an
/// observation, a relationship), kept as that text until an answer is written. The reads used to parse
/// it into a dictionary of values, which made a JSON document per field only for the serializer to
/// write each value out again: for a page of 100 entities with three fields, 300 documents a call.
/// Writing it copies its tokens instead, through the writer, so what a client receives is what the
/// dictionary gave, byte for byte: names and strings escaped by the answer's own encoder (PostgreSQL's
/// text leaves non-ASCII characters and markup as they are), numbers as PostgreSQL wrote them, no
/// whitespace (PostgreSQL puts a space after every colon and comma). The answer's structured content and
/// its text copy (one serialization, <c>ToolAnswer</c>) come out as they did.
/// </summary>
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

        public override void Write(Utf8JsonWriter writer, StoredFields value, JsonSerializerOptions options)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(Encoding.UTF8.GetMaxByteCount(value.json.Length));
            try
            {
                var reader = new Utf8JsonReader(buffer.AsSpan(0, Encoding.UTF8.GetBytes(value.json, buffer)));
                while (reader.Read())
                {
                    Copy(ref reader, writer);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        // One token as the writer would have written the value it stands for: an escaped name or string
        // is read unescaped and escaped again by the writer's encoder, a number keeps PostgreSQL's digits.
        private static void Copy(ref Utf8JsonReader reader, Utf8JsonWriter writer)
        {
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject: writer.WriteStartObject(); break;
                case JsonTokenType.EndObject: writer.WriteEndObject(); break;
                case JsonTokenType.StartArray: writer.WriteStartArray(); break;
                case JsonTokenType.EndArray: writer.WriteEndArray(); break;
                case JsonTokenType.PropertyName when reader.ValueIsEscaped: writer.WritePropertyName(reader.GetString()!); break;
                case JsonTokenType.PropertyName: writer.WritePropertyName(reader.ValueSpan); break;
                case JsonTokenType.String when reader.ValueIsEscaped: writer.WriteStringValue(reader.GetString()); break;
                case JsonTokenType.String: writer.WriteStringValue(reader.ValueSpan); break;
                case JsonTokenType.Number: writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true); break;
                case JsonTokenType.True: writer.WriteBooleanValue(true); break;
                case JsonTokenType.False: writer.WriteBooleanValue(false); break;
                case JsonTokenType.Null: writer.WriteNullValue(); break;
                default: throw new JsonException($"unexpected {reader.TokenType} in stored fields");
            }
        }
    }
}
