using System.ComponentModel;
using System.Security.Claims;
using System.Text.Json;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;
using Neotoma.Core.OAuth;
using Neotoma.Core.Truth;

namespace Neotoma.Core.Mcp;

/// <summary>
/// The truth layer over MCP. Every tool acts for the user of the access token (the
/// ClaimsPrincipal the bearer authenticator built), never for a user named in the arguments. Failures
/// reach the model through <see cref="ToolFailures"/>.
/// </summary>
[McpServerToolType]
public sealed class TruthTools(TruthStore store)
{
    private static string UserOf(ClaimsPrincipal user) =>
        user.FindFirstValue("sub") ?? throw new McpException("No authenticated user.");

    [RequiresScope(NeotomaScopes.Write)]
    [McpServerTool(Name = "store", UseStructuredContent = true, OutputSchemaType = typeof(StoreResult), Idempotent = false)]
    [Description("Stores entities (people, companies, projects, tasks, ...) with facts about them, and relationships between entities, " +
                 "in one transaction. Storing a name that exists adds facts to that entity. Give an idempotency_key to make a retried call a no-op " +
                 "that returns the same ids.")]
    public Task<CallToolResult> Store(
        ClaimsPrincipal user,
        [Description("Entities to store (at most 100 per call).")] IReadOnlyList<EntityInput>? entities = null,
        [Description("Relationships to store between entities stored before or in this call.")] IReadOnlyList<RelationshipInput>? relationships = null,
        [Description("A unique key for this call; repeating the call with it changes nothing and returns the first answer.")] string? idempotency_key = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.StoreAsync(UserOf(user), entities, relationships, idempotency_key, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "retrieve_entities", UseStructuredContent = true, OutputSchemaType = typeof(EntityPage), ReadOnly = true)]
    [Description("Lists the user's entities, newest first, with their current fields; filter by type and search names and aliases. " +
                 "total counts them; for a search it is null where counting every match would be slow (a common text, or a page after a cursor). " +
                 "To read on, give next_cursor back as cursor (fast however far you page), or next_offset as offset.")]
    public Task<CallToolResult> RetrieveEntities(
        ClaimsPrincipal user,
        [Description("Only entities of this type, e.g. person.")] string? entity_type = null,
        [Description("Text to find in names and aliases (case-insensitive; at most 500 characters, as long as a name may be).")] string? search = null,
        [Description("Page size, 1-100 (default 20).")] int? limit = null,
        [Description("Entities to skip (default 0).")] int? offset = null,
        [Description("Include soft-deleted entities.")] bool include_deleted = false,
        [Description("next_cursor of the previous page, to read the next (not with offset).")] string? cursor = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.RetrieveEntitiesAsync(UserOf(user), entity_type, search, limit, offset, include_deleted, cancellationToken, cursor));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "retrieve_entity_snapshot", UseStructuredContent = true, OutputSchemaType = typeof(EntitySnapshot), ReadOnly = true)]
    [Description("Returns an entity's current truth: each field's winning value and the observation it came from (provenance).")]
    public Task<CallToolResult> RetrieveEntitySnapshot(ClaimsPrincipal user, [Description("The entity id (ent_...).")] string entity_id,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.RetrieveSnapshotAsync(UserOf(user), entity_id, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "retrieve_entity_by_identifier", UseStructuredContent = true, OutputSchemaType = typeof(EntityMatches), ReadOnly = true)]
    [Description("Finds entities by id, exact name or alias (case-insensitive).")]
    public Task<CallToolResult> RetrieveEntityByIdentifier(ClaimsPrincipal user,
        [Description("An entity id, name or alias.")] string identifier,
        [Description("Only entities of this type.")] string? entity_type = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.RetrieveByIdentifierAsync(UserOf(user), identifier, entity_type, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "list_entity_types", UseStructuredContent = true, OutputSchemaType = typeof(EntityTypeList), ReadOnly = true)]
    [Description("Lists the entity types the user has stored, how many entities each has, and the fields seen with their JSON types.")]
    public Task<CallToolResult> ListEntityTypes(ClaimsPrincipal user, CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.ListEntityTypesAsync(UserOf(user), cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "list_observations", UseStructuredContent = true, OutputSchemaType = typeof(ObservationPage), ReadOnly = true)]
    [Description("Lists the observations (immutable facts) recorded about an entity, newest first.")]
    public Task<CallToolResult> ListObservations(ClaimsPrincipal user, [Description("The entity id.")] string entity_id,
        [Description("Page size, 1-100 (default 20).")] int? limit = null, [Description("Observations to skip.")] int? offset = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.ListObservationsAsync(UserOf(user), entity_id, limit, offset, cancellationToken));

    [RequiresScope(NeotomaScopes.Write)]
    [McpServerTool(Name = "correct", UseStructuredContent = true, OutputSchemaType = typeof(EntitySnapshot), Idempotent = false)]
    [Description("Records the user's correction of one field of an entity. A correction outranks every other observation of that field.")]
    public Task<CallToolResult> Correct(ClaimsPrincipal user, [Description("The entity id.")] string entity_id,
        [Description("The field to correct.")] string field, [Description("The correct value (any JSON value nested at most 32 levels; null removes the field).")] JsonElement value,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.CorrectAsync(UserOf(user), entity_id, field, value, cancellationToken));

    [RequiresScope(NeotomaScopes.Write)]
    [McpServerTool(Name = "merge_entities", UseStructuredContent = true, OutputSchemaType = typeof(EntitySnapshot), Destructive = true)]
    [Description("Merges a duplicate entity into another: its names become aliases, its observations and relationships move to the target.")]
    public Task<CallToolResult> MergeEntities(ClaimsPrincipal user, [Description("The duplicate to merge away.")] string source_entity_id,
        [Description("The entity that remains.")] string target_entity_id, CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.MergeAsync(UserOf(user), source_entity_id, target_entity_id, cancellationToken));

    [RequiresScope(NeotomaScopes.Write)]
    [McpServerTool(Name = "delete_entity", UseStructuredContent = true, OutputSchemaType = typeof(EntitySummary), Destructive = true, Idempotent = true)]
    [Description("Soft-deletes an entity: it disappears from lists and searches until restored. Nothing is erased.")]
    public Task<CallToolResult> DeleteEntity(ClaimsPrincipal user, [Description("The entity id.")] string entity_id, CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.SetDeletedAsync(UserOf(user), entity_id, deleted: true, cancellationToken));

    [RequiresScope(NeotomaScopes.Write)]
    [McpServerTool(Name = "restore_entity", UseStructuredContent = true, OutputSchemaType = typeof(EntitySummary), Idempotent = true)]
    [Description("Restores a soft-deleted entity.")]
    public Task<CallToolResult> RestoreEntity(ClaimsPrincipal user, [Description("The entity id.")] string entity_id, CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.SetDeletedAsync(UserOf(user), entity_id, deleted: false, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "list_relationships", UseStructuredContent = true, OutputSchemaType = typeof(RelationshipPage), ReadOnly = true)]
    [Description("Lists relationships, optionally those touching one entity or of one type.")]
    public Task<CallToolResult> ListRelationships(ClaimsPrincipal user,
        [Description("Only relationships from or to this entity.")] string? entity_id = null,
        [Description("Only this type: PART_OF, REFERS_TO, DEPENDS_ON, SUPERSEDES, DUPLICATE_OF, CORRECTS, SETTLES, EMBEDS.")] string? type = null,
        [Description("Page size, 1-100 (default 20).")] int? limit = null, [Description("Relationships to skip.")] int? offset = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.ListRelationshipsAsync(UserOf(user), entity_id, type, limit, offset, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "retrieve_related_entities", UseStructuredContent = true, OutputSchemaType = typeof(RelatedEntities), ReadOnly = true)]
    [Description("Walks the relationship graph from an entity up to 3 hops and returns the entities reached, nearest first.")]
    public Task<CallToolResult> RetrieveRelatedEntities(ClaimsPrincipal user, [Description("The starting entity id.")] string entity_id,
        [Description("outgoing, incoming or both (default).")] string? direction = null,
        [Description("Only follow these relationship types.")] IReadOnlyList<string>? types = null,
        [Description("How many hops, 1-3 (default 1).")] int? hops = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.RetrieveRelatedAsync(UserOf(user), entity_id, direction, types, hops, cancellationToken));

    [RequiresScope(NeotomaScopes.Read)]
    [McpServerTool(Name = "list_timeline_events", UseStructuredContent = true, OutputSchemaType = typeof(TimelinePage), ReadOnly = true)]
    [Description("Lists dated facts in time order: every date-valued field of every observation, with its entity. " +
                 "To read on, give next_cursor back as cursor (fast however far you page), or next_offset as offset.")]
    public Task<CallToolResult> ListTimelineEvents(ClaimsPrincipal user,
        [Description("Only events of entities of this type.")] string? entity_type = null,
        [Description("From this date-time (ISO 8601), inclusive.")] DateTimeOffset? from = null,
        [Description("Up to this date-time (ISO 8601), inclusive.")] DateTimeOffset? to = null,
        [Description("Page size, 1-100 (default 20).")] int? limit = null, [Description("Events to skip.")] int? offset = null,
        [Description("next_cursor of the previous page, to read the next (not with offset).")] string? cursor = null,
        CancellationToken cancellationToken = default) =>
        ToolAnswer.Of(store.ListTimelineAsync(UserOf(user), entity_type, from, to, limit, offset, cancellationToken, cursor));
}
