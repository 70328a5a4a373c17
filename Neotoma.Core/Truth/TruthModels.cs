using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Neotoma.Core.Truth;

/// <summary>Where a fact came from; higher priority wins in the snapshot.</summary>
public static class Sources
{
    public const string Correction = "correction";
    public const string Structured = "structured";
    public const string Ai = "ai";

    public static int Priority(string source) => source switch
    {
        Correction => 300,
        Structured => 200,
        Ai => 100,
        _ => throw new ArgumentOutOfRangeException(nameof(source)),
    };

    public static bool IsKnown(string? source) => source is Correction or Structured or Ai;
}

public static class RelationshipTypes
{
    public static readonly IReadOnlySet<string> All = new HashSet<string>(StringComparer.Ordinal)
    {
        "PART_OF", "REFERS_TO", "DEPENDS_ON", "SUPERSEDES", "DUPLICATE_OF", "CORRECTS", "SETTLES", "EMBEDS",
    };
}

[Description("An entity to store, with the facts observed about it.")]
public sealed record EntityInput
{
    [Description("The kind of thing, e.g. person, company, project, task, invoice. Lower-case words.")]
    [JsonPropertyName("entity_type")]
    public string? EntityType { get; init; }

    [Description("The entity's name. Together with entity_type it identifies the entity: storing the same name again adds to the same entity.")]
    [JsonPropertyName("name")]
    public string? Name { get; init; }

    [Description("Other names the entity is known by.")]
    [JsonPropertyName("aliases")]
    public IReadOnlyList<string>? Aliases { get; init; }

    [Description("Facts about the entity as a JSON object of field names to values. Dates as ISO 8601 strings (2026-01-31) also appear on the timeline.")]
    [JsonPropertyName("fields")]
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; init; }

    [Description("When the facts were true or observed (ISO 8601). Defaults to now.")]
    [JsonPropertyName("observed_at")]
    public DateTimeOffset? ObservedAt { get; init; }

    [Description("Where the facts come from: 'structured' (default, e.g. an import), 'ai' (extracted by a model) or 'correction' (the user said so).")]
    [JsonPropertyName("source")]
    public string? Source { get; init; }

    [Description("How specific the facts are, 0-100; among facts of equal source, the more specific wins. Default 0.")]
    [JsonPropertyName("specificity")]
    public int? Specificity { get; init; }
}

[Description("One end of a relationship: an entity_id, or the entity_type and name of an entity stored before or in the same call.")]
public sealed record EntityReference
{
    [JsonPropertyName("entity_id")]
    public string? EntityId { get; init; }

    [JsonPropertyName("entity_type")]
    public string? EntityType { get; init; }

    [JsonPropertyName("name")]
    public string? Name { get; init; }
}

[Description("A typed, directed relationship between two of the user's entities.")]
public sealed record RelationshipInput
{
    [Description("One of PART_OF, REFERS_TO, DEPENDS_ON, SUPERSEDES, DUPLICATE_OF, CORRECTS, SETTLES, EMBEDS.")]
    [JsonPropertyName("type")]
    public string? Type { get; init; }

    [JsonPropertyName("source")]
    public EntityReference? Source { get; init; }

    [JsonPropertyName("target")]
    public EntityReference? Target { get; init; }

    [Description("Facts about the relationship itself, as a JSON object.")]
    [JsonPropertyName("fields")]
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; init; }
}

public sealed record StoredEntity(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("entity_type")] string EntityType,
    [property: JsonPropertyName("canonical_name")] string CanonicalName,
    [property: JsonPropertyName("created")] bool Created,
    [property: JsonPropertyName("observation_id")] string? ObservationId);

public sealed record StoredRelationship(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("source_entity_id")] string SourceEntityId,
    [property: JsonPropertyName("target_entity_id")] string TargetEntityId);

public sealed record StoreResult(
    [property: JsonPropertyName("entities")] IReadOnlyList<StoredEntity> Entities,
    [property: JsonPropertyName("relationships")] IReadOnlyList<StoredRelationship> Relationships,
    [property: JsonPropertyName("replayed")] bool Replayed);

public sealed record EntitySummary(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("entity_type")] string EntityType,
    [property: JsonPropertyName("canonical_name")] string CanonicalName,
    [property: JsonPropertyName("aliases")] IReadOnlyList<string> Aliases,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, JsonElement> Fields,
    [property: JsonPropertyName("deleted")] bool Deleted,
    [property: JsonPropertyName("merged_into")] string? MergedInto,
    [property: JsonPropertyName("updated_at")] DateTimeOffset UpdatedAt);

/// <summary>
/// The shape of every paged answer: the items, the page asked for, and where the next page starts
/// (null on the last page). retrieve_entities also counts every match.
/// </summary>
public sealed record EntityPage(
    [property: JsonPropertyName("total")] long Total,
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("offset")] int Offset,
    [property: JsonPropertyName("next_offset")] int? NextOffset,
    [property: JsonPropertyName("entities")] IReadOnlyList<EntitySummary> Entities);

public sealed record ObservationPage(
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("offset")] int Offset,
    [property: JsonPropertyName("next_offset")] int? NextOffset,
    [property: JsonPropertyName("observations")] IReadOnlyList<ObservationView> Observations);

public sealed record RelationshipPage(
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("offset")] int Offset,
    [property: JsonPropertyName("next_offset")] int? NextOffset,
    [property: JsonPropertyName("relationships")] IReadOnlyList<RelationshipView> Relationships);

public sealed record TimelinePage(
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("offset")] int Offset,
    [property: JsonPropertyName("next_offset")] int? NextOffset,
    [property: JsonPropertyName("events")] IReadOnlyList<TimelineEvent> Events);

/// <summary>Entities found by id, name or alias (at most 20, best match first).</summary>
public sealed record EntityMatches(
    [property: JsonPropertyName("entities")] IReadOnlyList<EntitySummary> Entities);

public sealed record EntityTypeList(
    [property: JsonPropertyName("entity_types")] IReadOnlyList<EntityTypeView> EntityTypes);

/// <summary>The entities a walk of the graph reached (at most 500), nearest first.</summary>
public sealed record RelatedEntities(
    [property: JsonPropertyName("related")] IReadOnlyList<RelatedEntity> Related);

public sealed record FieldProvenance(
    [property: JsonPropertyName("observation_id")] string ObservationId,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("specificity")] int Specificity,
    [property: JsonPropertyName("observed_at")] DateTimeOffset ObservedAt);

public sealed record EntitySnapshot(
    [property: JsonPropertyName("entity")] EntitySummary Entity,
    [property: JsonPropertyName("provenance")] IReadOnlyDictionary<string, FieldProvenance> Provenance,
    [property: JsonPropertyName("observation_count")] int ObservationCount);

public sealed record ObservationView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("entity_id")] string EntityId,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, JsonElement> Fields,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("specificity")] int Specificity,
    [property: JsonPropertyName("observed_at")] DateTimeOffset ObservedAt);

public sealed record EntityTypeView(
    [property: JsonPropertyName("entity_type")] string EntityType,
    [property: JsonPropertyName("entity_count")] long EntityCount,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, string> Fields);

public sealed record RelationshipView(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("source_entity_id")] string SourceEntityId,
    [property: JsonPropertyName("target_entity_id")] string TargetEntityId,
    [property: JsonPropertyName("fields")] IReadOnlyDictionary<string, JsonElement> Fields);

public sealed record RelatedEntity(
    [property: JsonPropertyName("entity")] EntitySummary Entity,
    [property: JsonPropertyName("hops")] int Hops,
    [property: JsonPropertyName("via_relationship_id")] string ViaRelationshipId,
    [property: JsonPropertyName("via_type")] string ViaType);

public sealed record TimelineEvent(
    [property: JsonPropertyName("event_at")] DateTimeOffset EventAt,
    [property: JsonPropertyName("entity_id")] string EntityId,
    [property: JsonPropertyName("entity_type")] string EntityType,
    [property: JsonPropertyName("canonical_name")] string CanonicalName,
    [property: JsonPropertyName("field")] string Field,
    [property: JsonPropertyName("observation_id")] string ObservationId);

public sealed record TruthOptions
{
    public int MaxEntitiesPerStore { get; init; } = 100;

    public int MaxRelationshipsPerStore { get; init; } = 200;

    public int MaxPageSize { get; init; } = 100;
}

/// <summary>Bad input to a truth-layer operation, naming the field; MCP clients see it as a tool error.</summary>
public sealed class TruthInputException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>An entity or relationship the user does not have (or that another user has: the answer is the same).</summary>
public sealed class TruthNotFoundException(string message) : Exception(message);
