using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.AI;
using ModelContextProtocol;
using Neotoma.Core.Truth;

namespace Neotoma.Core.Mcp;

/// <summary>
/// The one serializer of tool arguments and answers, and the one the output schemas are generated
/// from, so the two agree by construction. Every member of an answer is always present: a member
/// that can be null is written as null (never left out) and its schema says so (anyOf with null,
/// <see cref="PortableSchemas"/>); a member that cannot be null has one type. The SDK's own default
/// leaves null members out while its schemas list them as required, which is what clients that
/// validate answers (the TypeScript SDK, the MCP Inspector) refused. Members are snake_case by
/// policy (the truth models say nothing about their names); wire records that must keep a name
/// whatever the policy say it with an attribute. The agreement holds while every tool is registered
/// with these options (McpServiceCollectionExtensions does), since <see cref="ToolAnswer"/> writes
/// the answers with them and the SDK generates the schemas with the registration's.
/// </summary>
public static class ToolJson
{
    public static JsonSerializerOptions Options { get; } = Create();

    /// <summary>How the tools' schemas are generated: as the serializer writes the answers.</summary>
    public static AIJsonSchemaCreateOptions SchemaOptions { get; } = new() { TransformSchemaNode = StoredFields.Schema };

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions(McpJsonUtilities.DefaultOptions)
        {
            DefaultIgnoreCondition = JsonIgnoreCondition.Never,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        };
        options.MakeReadOnly();
        return options;
    }
}
