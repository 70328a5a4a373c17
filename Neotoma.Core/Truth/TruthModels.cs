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
    public string? EntityType { get; init; }

    [Description("The entity's name. Together with entity_type it identifies the entity: storing the same name again adds to the same entity.")]
    public string? Name { get; init; }

    [Description("Other names the entity is known by.")]
    public IReadOnlyList<string>? Aliases { get; init; }

    [Description("Facts about the entity as a JSON object of field names to values. Dates as ISO 8601 strings (2026-01-31) also appear on the timeline. A value nests at most 32 levels of arrays and objects.")]
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; init; }

    [Description("When the facts were true or observed (ISO 8601). Defaults to now.")]
    public DateTimeOffset? ObservedAt { get; init; }

    [Description("Where the facts come from: 'structured' (default, e.g. an import), 'ai' (extracted by a model) or 'correction' (the user said so).")]
    public string? Source { get; init; }

    [Description("How specific the facts are, 0-100; among facts of equal source, the more specific wins. Default 0.")]
    public int? Specificity { get; init; }
}

[Description("One end of a relationship: an entity_id, or the entity_type and name of an entity stored before or in the same call.")]
public sealed record EntityReference
{
    public string? EntityId { get; init; }
    public string? EntityType { get; init; }
    public string? Name { get; init; }
}

[Description("A typed, directed relationship between two of the user's entities.")]
public sealed record RelationshipInput
{
    [Description("One of PART_OF, REFERS_TO, DEPENDS_ON, SUPERSEDES, DUPLICATE_OF, CORRECTS, SETTLES, EMBEDS.")]
    public string? Type { get; init; }
    public EntityReference? Source { get; init; }
    public EntityReference? Target { get; init; }

    [Description("Facts about the relationship itself, as a JSON object; a value nests at most 32 levels of arrays and objects.")]
    public IReadOnlyDictionary<string, JsonElement>? Fields { get; init; }
}

public sealed record StoredEntity(
    string Id,
    string EntityType,
    string CanonicalName,
    bool Created,
    string? ObservationId);

public sealed record StoredRelationship(
    string Id,
    string Type,
    string SourceEntityId,
    string TargetEntityId);

public sealed record StoreResult(
    IReadOnlyList<StoredEntity> Entities,
    IReadOnlyList<StoredRelationship> Relationships,
    bool Replayed);

public sealed record EntitySummary(
    string Id,
    string EntityType,
    string CanonicalName,
    IReadOnlyList<string> Aliases,
    StoredFields Fields,
    bool Deleted,
    string? MergedInto,
    DateTimeOffset UpdatedAt);

/// <summary>
/// The shape of every paged answer: the items, the page asked for, and where the next page starts
/// (null on the last page). retrieve_entities also counts every match. retrieve_entities (without a
/// search) and list_timeline_events also give <c>next_cursor</c>: the next page from where this one
/// ended, whose cost does not grow with how far into the list it is (an offset's does).
/// </summary>
public sealed record EntityPage(
    long? Total,
    int Limit,
    int Offset,
    int? NextOffset,
    IReadOnlyList<EntitySummary> Entities,
    string? NextCursor);

public sealed record ObservationPage(
    int Limit,
    int Offset,
    int? NextOffset,
    IReadOnlyList<ObservationView> Observations);

public sealed record RelationshipPage(
    int Limit,
    int Offset,
    int? NextOffset,
    IReadOnlyList<RelationshipView> Relationships);

public sealed record TimelinePage(
    int Limit,
    int Offset,
    int? NextOffset,
    IReadOnlyList<TimelineEvent> Events,
    string? NextCursor);

/// <summary>Entities found by id, name or alias (at most 20, best match first).</summary>
public sealed record EntityMatches(
    IReadOnlyList<EntitySummary> Entities);

public sealed record EntityTypeList(
    IReadOnlyList<EntityTypeView> EntityTypes);

/// <summary>The entities a walk of the graph reached (at most 500), nearest first.</summary>
public sealed record RelatedEntities(
    IReadOnlyList<RelatedEntity> Related);

public sealed record FieldProvenance(
    string ObservationId,
    string Source,
    int Specificity,
    DateTimeOffset ObservedAt);

public sealed record EntitySnapshot(
    EntitySummary Entity,
    IReadOnlyDictionary<string, FieldProvenance> Provenance,
    int ObservationCount);

public sealed record ObservationView(
    string Id,
    string EntityId,
    StoredFields Fields,
    string Source,
    int Specificity,
    DateTimeOffset ObservedAt);

public sealed record EntityTypeView(
    string EntityType,
    long EntityCount,
    IReadOnlyDictionary<string, string> Fields);

public sealed record RelationshipView(
    string Id,
    string Type,
    string SourceEntityId,
    string TargetEntityId,
    StoredFields Fields);

public sealed record RelatedEntity(
    EntitySummary Entity,
    int Hops,
    string ViaRelationshipId,
    string ViaType);

public sealed record TimelineEvent(
    DateTimeOffset EventAt,
    string EntityId,
    string EntityType,
    string CanonicalName,
    string Field,
    string ObservationId);

public sealed record TruthOptions
{
    public int MaxEntitiesPerStore { get; set; } = 100;

    public int MaxRelationshipsPerStore { get; set; } = 200;

    public int MaxPageSize { get; set; } = 100;
}

/// <summary>Bad input to a truth-layer operation, naming the field; MCP clients see it as a tool error.</summary>
public sealed class TruthInputException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}

/// <summary>An entity or relationship the user does not have (or that another user has: the answer is the same).</summary>
public sealed class TruthNotFoundException(string message) : Exception(message);
