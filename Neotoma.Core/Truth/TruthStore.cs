using System.Collections.ObjectModel;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Neotoma.Core.Storage;
using Npgsql;
using NpgsqlTypes;

namespace Neotoma.Core.Truth;

/// <summary>
/// The truth layer's reads and writes. Every operation runs in one transaction scoped to one
/// user (<see cref="DbScope.ForUser"/>): row-level security decides what exists, so a missing
/// WHERE clause can never show another user's rows.
/// </summary>
public sealed class TruthStore(NeotomaDatabase database, TruthOptions options, TimeProvider timeProvider)
{
    /// <summary>How the truth layer's records are stored (replayed answers, provenance): snake_case, as the tools speak.</summary>
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    // ------------------------------------------------------------------ store

    public Task<StoreResult> StoreAsync(
        string userId, IReadOnlyList<EntityInput>? entities, IReadOnlyList<RelationshipInput>? relationships, string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        entities ??= [];
        relationships ??= [];
        Validate(entities, relationships, idempotencyKey);
        return database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            if (idempotencyKey is not null)
            {
                // The first call inserts the key; a concurrent twin waits on the unique index until it
                // commits, then finds the key taken and answers what the first one stored.
                await using var claim = new NpgsqlCommand("""
                    INSERT INTO store_requests (user_id, idempotency_key) VALUES (@user, @key) ON CONFLICT DO NOTHING
                    """, connection, transaction);
                claim.Parameters.AddWithValue("user", userId);
                claim.Parameters.AddWithValue("key", idempotencyKey);
                if (await claim.ExecuteNonQueryAsync(cancellationToken) == 0)
                {
                    await using var previous = new NpgsqlCommand(
                        "SELECT response FROM store_requests WHERE idempotency_key = @key", connection, transaction);
                    previous.Parameters.AddWithValue("key", idempotencyKey);
                    var stored = (string)(await previous.ExecuteScalarAsync(cancellationToken))!;
                    return JsonSerializer.Deserialize<StoreResult>(stored, Json)! with { Replayed = true };
                }
            }

            var now = timeProvider.GetUtcNow();
            var storedEntities = new List<StoredEntity>();
            var byName = new Dictionary<(string Type, string Name), string>();
            foreach (var input in entities)
            {
                var entity = await StoreEntityAsync(connection, transaction, userId, input, idempotencyKey, now, cancellationToken);
                storedEntities.Add(entity);
                byName[(entity.EntityType, EntityIdentity.Normalize(input.Name!))] = entity.Id;
            }

            var storedRelationships = new List<StoredRelationship>();
            for (var i = 0; i < relationships.Count; i++)
            {
                storedRelationships.Add(await StoreRelationshipAsync(connection, transaction, userId, relationships[i], i, byName, now, cancellationToken));
            }

            var result = new StoreResult(storedEntities, storedRelationships, Replayed: false);
            if (idempotencyKey is not null)
            {
                await using var save = new NpgsqlCommand(
                    "UPDATE store_requests SET response = @response::jsonb WHERE idempotency_key = @key", connection, transaction);
                save.Parameters.AddWithValue("response", JsonSerializer.Serialize(result, Json));
                save.Parameters.AddWithValue("key", idempotencyKey);
                await save.ExecuteNonQueryAsync(cancellationToken);
            }

            return result;
        }, cancellationToken);
    }

    private void Validate(IReadOnlyList<EntityInput> entities, IReadOnlyList<RelationshipInput> relationships, string? idempotencyKey)
    {
        if (entities.Count == 0 && relationships.Count == 0)
        {
            throw new TruthInputException("entities", "give at least one entity or relationship to store");
        }

        if (entities.Count > options.MaxEntitiesPerStore)
        {
            throw new TruthInputException("entities", $"at most {options.MaxEntitiesPerStore} entities per call; got {entities.Count}. Split the call.");
        }

        if (relationships.Count > options.MaxRelationshipsPerStore)
        {
            throw new TruthInputException("relationships", $"at most {options.MaxRelationshipsPerStore} relationships per call; got {relationships.Count}.");
        }

        if (idempotencyKey is not null && (idempotencyKey.Length is 0 or > 200 || idempotencyKey.Any(char.IsControl)))
        {
            throw new TruthInputException("idempotency_key", "must be 1-200 characters without control characters");
        }

        for (var i = 0; i < entities.Count; i++)
        {
            var e = entities[i];
            RequireText($"entities[{i}].entity_type", e.EntityType, 100);
            RequireText($"entities[{i}].name", e.Name, MaxNameLength);
            if (e.Source is not null && !Sources.IsKnown(e.Source))
            {
                throw new TruthInputException($"entities[{i}].source", "must be structured, ai or correction");
            }

            if (e.Specificity is < 0 or > 100)
            {
                throw new TruthInputException($"entities[{i}].specificity", "must be between 0 and 100");
            }

            foreach (var alias in e.Aliases ?? [])
            {
                RequireText($"entities[{i}].aliases", alias, MaxNameLength);
            }

            RequireShallow($"entities[{i}].fields", e.Fields);
        }

        for (var i = 0; i < relationships.Count; i++)
        {
            var r = relationships[i];
            if (r.Type is null || !RelationshipTypes.All.Contains(r.Type))
            {
                throw new TruthInputException($"relationships[{i}].type", $"must be one of {string.Join(", ", RelationshipTypes.All.Order())}");
            }

            RequireShallow($"relationships[{i}].fields", r.Fields);
        }
    }

    /// <summary>
    /// How deep a field's value may nest (arrays and objects inside one another). Every answer that
    /// carries the value puts it up to 7 levels into the JSON-RPC message, and common JSON readers stop
    /// at 64 levels (System.Text.Json's default, so the .NET MCP client's): a value that was accepted
    /// deeper would make every later answer that carries it unreadable to them, so it is refused when
    /// stored. 32 is deeper than any record format people import.
    /// </summary>
    internal const int MaxFieldNesting = 32;

    private static void RequireShallow(string field, IReadOnlyDictionary<string, JsonElement>? fields)
    {
        foreach (var (name, value) in fields ?? ReadOnlyDictionary<string, JsonElement>.Empty)
        {
            RequireShallow($"{field}.{name}", value);
        }
    }

    private static void RequireShallow(string field, JsonElement value)
    {
        if (NestingOf(value) > MaxFieldNesting)
        {
            throw new TruthInputException(field, $"nests arrays or objects more than {MaxFieldNesting} levels deep; store it flatter");
        }
    }

    // The request's parser caps the depth (64), so this recursion is bounded.
    private static int NestingOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => 1 + value.EnumerateObject().Select(member => NestingOf(member.Value)).DefaultIfEmpty(0).Max(),
        JsonValueKind.Array => 1 + value.EnumerateArray().Select(NestingOf).DefaultIfEmpty(0).Max(),
        _ => 0,
    };

    /// <summary>The longest name or alias, and so the longest search text that could match one.</summary>
    private const int MaxNameLength = 500;

    private static void RequireText(string field, string? value, int max)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new TruthInputException(field, "is required");
        }

        if (value.Length > max || value.Any(char.IsControl))
        {
            throw new TruthInputException(field, $"must be at most {max} characters without control characters");
        }
    }

    private async Task<StoredEntity> StoreEntityAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId,
        EntityInput input, string? idempotencyKey, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var type = EntityIdentity.NormalizeType(input.EntityType!);
        var name = input.Name!.Trim();
        var normalized = EntityIdentity.Normalize(name);
        var aliases = (input.Aliases ?? []).Select(a => a.Trim()).Where(a => a.Length > 0).Distinct().ToArray();
        await using var upsert = new NpgsqlCommand("""
            INSERT INTO entities (id, user_id, entity_type, canonical_name, normalized_name, aliases, normalized_aliases, created_at, updated_at)
            VALUES (@id, @user, @type, @name, @normalized, @aliases, @normalizedAliases, @now, @now)
            ON CONFLICT (user_id, entity_type, normalized_name) DO UPDATE SET
                aliases = ARRAY(SELECT DISTINCT unnest(entities.aliases || EXCLUDED.aliases)),
                normalized_aliases = ARRAY(SELECT DISTINCT unnest(entities.normalized_aliases || EXCLUDED.normalized_aliases)),
                deleted_at = NULL,
                updated_at = EXCLUDED.updated_at
            RETURNING coalesce(merged_to, id), canonical_name, xmax = 0
            """, connection, transaction);
        upsert.Parameters.AddWithValue("id", EntityIdentity.EntityId(userId, type, normalized));
        upsert.Parameters.AddWithValue("user", userId);
        upsert.Parameters.AddWithValue("type", type);
        upsert.Parameters.AddWithValue("name", name);
        upsert.Parameters.AddWithValue("normalized", normalized);
        upsert.Parameters.AddWithValue("aliases", aliases);
        upsert.Parameters.AddWithValue("normalizedAliases", aliases.Select(EntityIdentity.Normalize).Distinct().ToArray());
        upsert.Parameters.AddWithValue("now", now);
        string id, canonical;
        bool created;
        await using (var reader = await upsert.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (id, canonical, created) = (reader.GetString(0), reader.GetString(1), reader.GetBoolean(2));
        }

        string? observationId = null;
        if (input.Fields is { Count: > 0 })
        {
            observationId = await AddObservationAsync(connection, transaction, userId, id, type, JsonSerializer.SerializeToElement(input.Fields), input.Source ?? Sources.Structured,
                input.Specificity ?? 0, input.ObservedAt ?? now, idempotencyKey, now, cancellationToken);
        }

        await RefreshSnapshotAsync(connection, transaction, userId, id, now, cancellationToken);
        return new StoredEntity(id, type, canonical, created, observationId);
    }

    private async Task<string> AddObservationAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string entityId,
        string entityType, JsonElement fields, string source, int specificity, DateTimeOffset observedAt, string? idempotencyKey,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var id = "obs_" + Guid.CreateVersion7(now).ToString("N");
        await using var insert = new NpgsqlCommand("""
            INSERT INTO observations (id, user_id, entity_id, fields, source, source_priority, specificity, observed_at, idempotency_key, created_at)
            VALUES (@id, @user, @entity, @fields::jsonb, @source, @priority, @specificity, @observedAt, @key, clock_timestamp());
            INSERT INTO entity_types (user_id, entity_type, fields, first_seen_at) VALUES (@user, @type, @kinds::jsonb, @now)
            ON CONFLICT (user_id, entity_type) DO UPDATE SET fields = entity_types.fields || EXCLUDED.fields;
            """, connection, transaction);
        insert.Parameters.AddWithValue("id", id);
        insert.Parameters.AddWithValue("user", userId);
        insert.Parameters.AddWithValue("entity", entityId);
        insert.Parameters.AddWithValue("fields", fields.GetRawText());
        insert.Parameters.AddWithValue("source", source);
        insert.Parameters.AddWithValue("priority", Sources.Priority(source));
        insert.Parameters.AddWithValue("specificity", specificity);
        insert.Parameters.AddWithValue("observedAt", observedAt);
        insert.Parameters.AddWithValue("key", (object?)idempotencyKey ?? DBNull.Value);
        insert.Parameters.AddWithValue("type", entityType);
        insert.Parameters.AddWithValue("kinds", JsonSerializer.Serialize(
            fields.EnumerateObject().ToDictionary(f => f.Name, f => KindOf(f.Value))));
        insert.Parameters.AddWithValue("now", now);
        await insert.ExecuteNonQueryAsync(cancellationToken);

        foreach (var field in fields.EnumerateObject())
        {
            if (TryParseDate(field.Value, out var at))
            {
                await using var timeline = new NpgsqlCommand("""
                    INSERT INTO timeline_events (user_id, entity_id, observation_id, entity_type, field, event_at)
                    VALUES (@user, @entity, @observation, @type, @field, @at)
                    """, connection, transaction);
                timeline.Parameters.AddWithValue("user", userId);
                timeline.Parameters.AddWithValue("entity", entityId);
                timeline.Parameters.AddWithValue("observation", id);
                timeline.Parameters.AddWithValue("type", entityType);
                timeline.Parameters.AddWithValue("field", field.Name);
                timeline.Parameters.AddWithValue("at", at);
                await timeline.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        return id;
    }

    private static string KindOf(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String when TryParseDate(value, out _) => "date",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Array => "array",
        JsonValueKind.Object => "object",
        _ => "null",
    };

    private static readonly string[] DateFormats = ["yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm:ssK", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mmK"];

    /// <summary>ISO 8601 dates and date-times only: "3" or "May" are not timeline events.</summary>
    internal static bool TryParseDate(JsonElement value, out DateTimeOffset at)
    {
        at = default;
        return value.ValueKind == JsonValueKind.String
            && DateTimeOffset.TryParseExact(value.GetString(), DateFormats, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out at);
    }

    private async Task<StoredRelationship> StoreRelationshipAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId,
        RelationshipInput input, int index, Dictionary<(string Type, string Name), string> byName, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var source = await ResolveAsync(connection, transaction, userId, input.Source, $"relationships[{index}].source", byName, cancellationToken);
        var target = await ResolveAsync(connection, transaction, userId, input.Target, $"relationships[{index}].target", byName, cancellationToken);
        if (source == target)
        {
            throw new TruthInputException($"relationships[{index}]", "source and target are the same entity");
        }

        var id = EntityIdentity.RelationshipId(userId, input.Type!, source, target);
        await using var upsert = new NpgsqlCommand("""
            INSERT INTO relationships (id, user_id, relationship_type, source_entity_id, target_entity_id, created_at, updated_at)
            VALUES (@id, @user, @type, @source, @target, @now, @now)
            ON CONFLICT (id) DO UPDATE SET deleted_at = NULL, updated_at = EXCLUDED.updated_at
            """, connection, transaction);
        upsert.Parameters.AddWithValue("id", id);
        upsert.Parameters.AddWithValue("user", userId);
        upsert.Parameters.AddWithValue("type", input.Type!);
        upsert.Parameters.AddWithValue("source", source);
        upsert.Parameters.AddWithValue("target", target);
        upsert.Parameters.AddWithValue("now", now);
        await upsert.ExecuteNonQueryAsync(cancellationToken);

        if (input.Fields is { Count: > 0 } fields)
        {
            await using var observe = new NpgsqlCommand("""
                INSERT INTO relationship_observations (id, user_id, relationship_id, fields, source_priority, observed_at, created_at)
                VALUES (@obs, @user, @id, @fields::jsonb, 200, @now, clock_timestamp());
                UPDATE relationships r SET snapshot = coalesce((
                    SELECT jsonb_object_agg(key, value) FROM (
                        SELECT DISTINCT ON (f.key) f.key, f.value
                        FROM relationship_observations o, jsonb_each(o.fields) f
                        WHERE o.relationship_id = r.id
                        ORDER BY f.key, o.source_priority DESC, o.observed_at DESC, o.created_at DESC) latest), '{}')
                WHERE r.id = @id;
                """, connection, transaction);
            observe.Parameters.AddWithValue("obs", "robs_" + Guid.CreateVersion7(now).ToString("N"));
            observe.Parameters.AddWithValue("user", userId);
            observe.Parameters.AddWithValue("id", id);
            observe.Parameters.AddWithValue("fields", JsonSerializer.Serialize(fields));
            observe.Parameters.AddWithValue("now", now);
            await observe.ExecuteNonQueryAsync(cancellationToken);
        }

        return new StoredRelationship(id, input.Type!, source, target);
    }

    private static async Task<string> ResolveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, EntityReference? reference,
        string field, Dictionary<(string Type, string Name), string> byName, CancellationToken cancellationToken)
    {
        if (reference?.EntityId is { Length: > 0 } id)
        {
            return await LiveIdAsync(connection, transaction, id, cancellationToken)
                ?? throw new TruthInputException(field, $"no entity with id {id}");
        }

        if (string.IsNullOrWhiteSpace(reference?.EntityType) || string.IsNullOrWhiteSpace(reference.Name))
        {
            throw new TruthInputException(field, "give entity_id, or entity_type and name");
        }

        var type = EntityIdentity.NormalizeType(reference.EntityType);
        var normalized = EntityIdentity.Normalize(reference.Name);
        if (byName.TryGetValue((type, normalized), out var stored))
        {
            return stored;
        }

        return await LiveIdAsync(connection, transaction, EntityIdentity.EntityId(userId, type, normalized), cancellationToken)
            ?? throw new TruthInputException(field, $"no {type} named '{reference.Name}'; store it first or in the same call");
    }

    /// <summary>The entity's id, or the id of the entity it was merged into.</summary>
    private static async Task<string?> LiveIdAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string id, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT coalesce(merged_to, id) FROM entities WHERE id = @id", connection, transaction);
        command.Parameters.AddWithValue("id", id);
        return await command.ExecuteScalarAsync(cancellationToken) as string;
    }

    private static async Task RefreshSnapshotAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string userId, string entityId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The observations of the entity and of every entity merged into it: as a list of ids, each
        // looked up by index (as an OR of the two, PostgreSQL read every observation of the person).
        var observations = new List<ObservationRecord>();
        await using (var select = new NpgsqlCommand("""
            SELECT o.id, o.fields::text, o.source, o.source_priority, o.specificity, o.observed_at, o.created_at
            FROM observations o
            WHERE o.entity_id = ANY (ARRAY(SELECT @id UNION ALL SELECT id FROM entities WHERE merged_to = @id))
            """, connection, transaction))
        {
            select.Parameters.AddWithValue("id", entityId);
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                observations.Add(new ObservationRecord(reader.GetString(0), JsonDocument.Parse(reader.GetString(1)).RootElement,
                    reader.GetString(2), reader.GetInt32(3), reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5), reader.GetFieldValue<DateTimeOffset>(6)));
            }
        }

        var (fields, provenance) = SnapshotReducer.Reduce(observations);
        await using var upsert = new NpgsqlCommand("""
            INSERT INTO entity_snapshots (entity_id, user_id, fields, provenance, observation_count, updated_at)
            VALUES (@id, @user, @fields::jsonb, @provenance::jsonb, @count, @now)
            ON CONFLICT (entity_id) DO UPDATE SET fields = EXCLUDED.fields, provenance = EXCLUDED.provenance,
                observation_count = EXCLUDED.observation_count, updated_at = EXCLUDED.updated_at
            """, connection, transaction);
        upsert.Parameters.AddWithValue("id", entityId);
        upsert.Parameters.AddWithValue("user", userId);
        upsert.Parameters.AddWithValue("fields", fields.ToJsonString());
        upsert.Parameters.AddWithValue("provenance", JsonSerializer.Serialize(provenance, Json));
        upsert.Parameters.AddWithValue("count", observations.Count);
        upsert.Parameters.AddWithValue("now", now);
        await upsert.ExecuteNonQueryAsync(cancellationToken);
    }

    // ------------------------------------------------------------------ reads

    internal const string SummaryColumns = """
        e.id, e.entity_type, e.canonical_name, e.aliases, coalesce(s.fields, '{}')::text, e.deleted_at IS NOT NULL, e.merged_to, e.updated_at
        """;

    private static EntitySummary ReadSummary(NpgsqlDataReader reader, int offset = 0) => new(
        reader.GetString(offset), reader.GetString(offset + 1), reader.GetString(offset + 2), reader.GetFieldValue<string[]>(offset + 3),
        StoredFields.FromJsonb(reader.GetString(offset + 4)), reader.GetBoolean(offset + 5),
        reader.IsDBNull(offset + 6) ? null : reader.GetString(offset + 6), reader.GetFieldValue<DateTimeOffset>(offset + 7));

    internal const string RetrieveTotal = """
        (SELECT coalesce(sum(t.live_count + CASE WHEN @includeDeleted THEN t.deleted_count ELSE 0 END), 0)::bigint
         FROM entity_types t WHERE @type::text IS NULL OR t.entity_type = @type)
        """;

    /// <summary>
    /// retrieve_entities' statements without a search (the benchmark runs the first page's bare as the
    /// database's floor): a page read along entities_recent_idx (entities_type_recent_idx with a type),
    /// from a cursor's place on (newest first, then by id) when given, and the total from the counts
    /// kept in entity_types, so neither grows with what the person has stored.
    /// </summary>
    internal static readonly PageStatements EntityPages = new(RetrieveFrom, "e.entity_type = @type", RetrieveAfter, RetrieveOrder, RetrieveAtOffset);

    /// <summary>The entities the list shows: not merged into another, and not deleted unless asked for.</summary>
    internal const string RetrieveListed = "e.merged_to IS NULL AND (@includeDeleted OR e.deleted_at IS NULL)";

    /// <summary>
    /// The rows of a page whose entity ids a subquery named <c>page</c> chose: each entity (under its
    /// own policy) with its snapshot, in the list's order; only the page's entities are joined.
    /// </summary>
    internal const string PageEntities = """
        JOIN entities e ON e.id = page.id LEFT JOIN entity_snapshots s ON s.entity_id = e.id
        ORDER BY e.updated_at DESC, e.id
        """;

    private const string RetrieveFrom = $"""
        SELECT {SummaryColumns}, {RetrieveTotal}
        FROM entities e LEFT JOIN entity_snapshots s ON s.entity_id = e.id
        WHERE {RetrieveListed}
        """;

    /// <summary>
    /// A page at an offset: the page's ids first, then their entities and snapshots, so that the rows
    /// the offset skips are read along the index without a snapshot each (half-way through a
    /// million entities: 500,000 lookups of entity_snapshots that no answer used). Its generic plan
    /// (unknown offset and limit, estimated at a tenth of the list) would hash-join the page to a
    /// sequential scan of <c>entities</c>; PostgreSQL keeps a generic plan only when it is estimated no
    /// dearer than the custom plans so far, and it is dearer than even the list's last page read
    /// along the index (on the bench's million, 134,768 against 105,968: after eight calls for the last
    /// pages, 0 generic plans and 8 custom in pg_prepared_statements).
    /// </summary>
    private static string RetrieveAtOffset(string condition) => $"""
        SELECT {SummaryColumns}, {RetrieveTotal}
        FROM (SELECT e.id FROM entities e WHERE {RetrieveListed}{condition}
              {RetrieveOrder} OFFSET @offset) page
        {PageEntities}
        """;

    internal const string RetrieveAfter = "e.updated_at <= @afterAt AND (e.updated_at < @afterAt OR e.id > @afterId)";

    private const string RetrieveOrder = "ORDER BY e.updated_at DESC, e.id LIMIT @limit";

    public async Task<EntityPage> RetrieveEntitiesAsync(string userId, string? entityType, string? search, int? limit, int? offset,
        bool includeDeleted, CancellationToken cancellationToken, string? cursor = null)
    {
        var (take, skip) = Page(limit, offset);
        var after = PageCursor.Read(cursor, PageCursor.Entities, offset);
        if (search is { Length: > MaxNameLength })
        {
            // A name or an alias is never longer (store's limit), so a longer text could match nothing.
            throw new TruthInputException("search", $"must be at most {MaxNameLength} characters (no name or alias is longer)");
        }

        if (!string.IsNullOrWhiteSpace(search))
        {
            return await SearchEntitiesAsync(userId, entityType, EntityIdentity.Normalize(search), take, skip, after, includeDeleted, cancellationToken);
        }

        var rows = await PageRowsAsync(userId, EntityPages.For(ofType: entityType is not null, afterCursor: after is not null, atOffset: skip > 0),
            entityType, includeDeleted, after, pattern: null, lookup: null, take, skip, cancellationToken);

        // Past the end there is no row to carry the count (EntityPageOf: unknown, but for an empty list).
        return EntityPageOf(rows.Select(row => row.Entity).ToList(), rows.Count > 0 ? rows[0].Total : null, take, skip, after);
    }

    /// <summary>
    /// A page of a search, found as <see cref="EntitySearch"/> says: a walk of the newest entities
    /// first, then a further walk or the trigram index (a scan of the person's entities for a text
    /// the index cannot look up).
    /// </summary>
    private async Task<EntityPage> SearchEntitiesAsync(string userId, string? entityType, string normalizedSearch, int take, int skip,
        PageCursor.Place? after, bool includeDeleted, CancellationToken cancellationToken)
    {
        var pattern = EscapeLike(normalizedSearch);
        var need = skip + take + 1;
        var words = EntitySearch.Words(normalizedSearch);
        var ofType = entityType is not null;
        var first = await WalkAsync(EntitySearch.Walk(ofType, afterPlace: after is not null, countWords: words.Length > 0), userId, entityType,
            pattern, includeDeleted, after, need, words.Select(EscapeLike).ToArray(), cancellationToken);
        var found = first.Hits;
        var walked = first.Walked;
        var matched = first.Matched;
        var complete = first.Ended;
        if (found.Count < need && !complete && EntitySearch.WalksOn(first.Walked, first.Matched, need, first.Listed))
        {
            // A list the two walks can hold, read from its start, is read to its end, for its total.
            var toTheEnd = after is null && first.Listed <= EntitySearch.FirstWalk + EntitySearch.MaxWalk;
            var further = await WalkAsync(toTheEnd ? EntitySearch.WalkToTheEnd(ofType) : EntitySearch.FurtherWalk(ofType), userId, entityType, pattern,
                includeDeleted, first.Tail, need - found.Count, [], cancellationToken);
            found = [.. found, .. further.Hits];
            walked += further.Walked;
            matched += further.Matched;
            complete = further.Ended;
        }

        if (found.Count < need && !complete)
        {
            var lookup = EntitySearch.RarestWord(words, first.WordHits) is { } word ? EscapeLike(word) : pattern;
            var counted = EntitySearch.CountsMatches(walked, matched, first.Listed);
            return await SearchByIndexAsync(userId, entityType, normalizedSearch, pattern, lookup, counted, take, skip, after, includeDeleted,
                cancellationToken);
        }

        // Every match was seen only when the walks began at the start of the list and reached its end.
        long? total = complete && after is null ? matched : null;
        return EntityPageOf(found.Skip(skip).ToList(), total, take, skip, after);
    }

    /// <summary>What a walk found: its matches, how many entities it read, whether it reached the end of the list.</summary>
    private readonly record struct SearchWalk(List<EntitySummary> Hits, long Walked, long Matched, PageCursor.Place? Tail, long Listed, long[] WordHits, bool Ended);

    /// <summary>A walk: <see cref="EntitySearch.Walk"/>, <see cref="EntitySearch.FurtherWalk"/> or <see cref="EntitySearch.WalkToTheEnd"/>, which answer in the same rows.</summary>
    private async Task<SearchWalk> WalkAsync(string sql, string userId, string? entityType, string pattern, bool includeDeleted,
        PageCursor.Place? from, int need, string[] words, CancellationToken cancellationToken)
    {
        var rows = await database.QueryListAsync(DbScope.ForUser(userId), sql,
            parameters =>
            {
                AddListParameters(parameters, entityType, includeDeleted, from, pattern);
                parameters.AddWithValue("need", need);
                if (words.Length > 0)
                {
                    parameters.AddWithValue("words", words);
                }
            },
            reader => (
                Entity: reader.IsDBNull(0) ? null : ReadSummary(reader),
                Walked: reader.GetInt64(8),
                Matched: reader.GetInt64(9),
                Tail: reader.IsDBNull(10) ? (PageCursor.Place?)null : new PageCursor.Place(reader.GetFieldValue<DateTimeOffset>(11), reader.GetString(10)),
                Listed: reader.GetInt64(12),
                WordHits: reader.GetFieldValue<long[]>(13),
                Ended: reader.GetBoolean(14)),
            cancellationToken);
        var last = rows[^1];
        return new SearchWalk(rows.Where(row => row.Entity is not null).Select(row => row.Entity!).ToList(), last.Walked, last.Matched, last.Tail,
            last.Listed, last.WordHits, last.Ended);
    }

    /// <summary>
    /// A page of a search by the trigram index, or by a scan for a text the index cannot look up (which
    /// reads every entity anyway, so it always counts); <paramref name="counted"/> says whether the
    /// index counts every match (<see cref="EntitySearch.CountsMatches"/>).
    /// </summary>
    private async Task<EntityPage> SearchByIndexAsync(string userId, string? entityType, string normalizedSearch, string pattern, string lookup,
        bool counted, int take, int skip, PageCursor.Place? after, bool includeDeleted, CancellationToken cancellationToken)
    {
        var afterPlace = after is not null;
        var byIndex = EntitySearch.IndexCanServe(normalizedSearch);
        var rows = await PageRowsAsync(userId, byIndex ? EntitySearch.Index(afterPlace, counted) : EntitySearch.Scan(afterPlace),
            entityType, includeDeleted, after, pattern, byIndex ? lookup : null, take, skip, cancellationToken);
        // Uncounted, or past the end, the rows carry no total: EntityPageOf gives it where a last page tells it.
        return EntityPageOf(rows.Select(row => row.Entity).ToList(), rows.Count > 0 ? rows[0].Total : null, take, skip, after);
    }

    /// <summary>
    /// A page of entities and the list's total (each row carries it; null where it is not counted), read
    /// with one row more than asked for: that row only tells that another page follows.
    /// </summary>
    private Task<List<(EntitySummary Entity, long? Total)>> PageRowsAsync(string userId, string sql, string? entityType, bool includeDeleted,
        PageCursor.Place? after, string? pattern, string? lookup, int take, int skip, CancellationToken cancellationToken) =>
        database.QueryListAsync(DbScope.ForUser(userId), sql,
            parameters =>
            {
                AddListParameters(parameters, entityType, includeDeleted, after, pattern, lookup);
                parameters.AddWithValue("limit", take + 1);
                parameters.AddWithValue("offset", skip);
            },
            reader => (ReadSummary(reader), reader.IsDBNull(8) ? (long?)null : reader.GetInt64(8)),
            cancellationToken);

    /// <summary>
    /// The parameters every statement of the entity list takes, and when given a search's LIKE pattern
    /// and what the index looks up for it (<see cref="EntitySearch.Index"/>).
    /// </summary>
    private static void AddListParameters(NpgsqlParameterCollection parameters, string? entityType, bool includeDeleted, PageCursor.Place? after,
        string? pattern = null, string? lookup = null)
    {
        parameters.AddWithValue("includeDeleted", includeDeleted);
        parameters.Add(EntityTypeFilter(entityType));
        if (after is { } place)
        {
            parameters.AddWithValue("afterAt", place.At);
            parameters.AddWithValue("afterId", place.Id);
        }

        if (pattern is not null)
        {
            parameters.Add(new NpgsqlParameter("search", NpgsqlDbType.Text) { Value = pattern });
        }

        if (lookup is not null)
        {
            parameters.Add(new NpgsqlParameter("lookup", NpgsqlDbType.Text) { Value = lookup });
        }
    }

    /// <summary>
    /// A page from rows read with one more than asked for (that row only tells that another page
    /// follows): the next offset when the page was asked by offset, and a cursor at its last entity.
    /// Where nothing counted the <paramref name="total"/>, a last page read from the start of the list
    /// (by offset, not after a cursor) tells it: the entities the offset skipped and its own are all
    /// there are (an empty list's is 0); past the end, or after a cursor, it stays unknown.
    /// </summary>
    private static EntityPage EntityPageOf(List<EntitySummary> rows, long? total, int take, int offset, PageCursor.Place? after)
    {
        if (total is null && after is null && rows.Count <= take && (rows.Count > 0 || offset == 0))
        {
            total = offset + rows.Count;
        }

        var more = rows.Count > take;
        var entities = more ? rows.GetRange(0, take) : rows;
        return new EntityPage(total, take, offset, more && after is null ? offset + take : null, entities,
            more ? PageCursor.Write(PageCursor.Entities, entities[^1].UpdatedAt, entities[^1].Id) : null);
    }

    /// <summary>
    /// A page of a list read with one row more than asked for: that row only tells that another page
    /// follows (its offset), without counting every match.
    /// </summary>
    private static (IReadOnlyList<T> Items, int? NextOffset) Slice<T>(IReadOnlyList<T> rows, int take, int skip) =>
        rows.Count > take ? (rows.Take(take).ToList(), skip + take) : (rows, null);

    private static string EscapeLike(string value) => value.Replace("\\", "\\\\").Replace("%", "\\%").Replace("_", "\\_");

    private (int Limit, int Offset) Page(int? limit, int? offset)
    {
        if (limit is < 1 || limit > options.MaxPageSize)
        {
            throw new TruthInputException("limit", $"must be between 1 and {options.MaxPageSize}");
        }

        if (offset is < 0)
        {
            throw new TruthInputException("offset", "must be 0 or more");
        }

        return (limit ?? 20, offset ?? 0);
    }

    public Task<EntitySnapshot> RetrieveSnapshotAsync(string userId, string entityId, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            var liveId = await LiveIdAsync(connection, transaction, entityId, cancellationToken) ?? throw NotFound(entityId);
            await using var command = new NpgsqlCommand($$"""
                SELECT {{SummaryColumns}}, coalesce(s.provenance, '{}')::text, coalesce(s.observation_count, 0)
                FROM entities e LEFT JOIN entity_snapshots s ON s.entity_id = e.id WHERE e.id = @id
                """, connection, transaction);
            command.Parameters.AddWithValue("id", liveId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var provenance = JsonSerializer.Deserialize<Dictionary<string, FieldProvenance>>(reader.GetString(8), Json)!;
            return new EntitySnapshot(ReadSummary(reader), provenance, reader.GetInt32(9));
        }, cancellationToken);

    /// <summary>retrieve_entity_by_identifier: the id by its primary key, the name and the alias (entity_aliases) by equality.</summary>
    /// <remarks>Three lookups joined by UNION: as one OR, PostgreSQL reads every entity of the person.</remarks>
    internal const string ByIdentifierSql = $"""
        SELECT {SummaryColumns}
        FROM (SELECT id FROM entities WHERE id = @identifier
              UNION SELECT id FROM entities WHERE normalized_name = @normalized
              UNION SELECT entity_id FROM entity_aliases WHERE normalized_alias = @normalized) found
        JOIN entities e ON e.id = found.id LEFT JOIN entity_snapshots s ON s.entity_id = e.id
        WHERE e.merged_to IS NULL AND e.deleted_at IS NULL
          AND (@type::text IS NULL OR e.entity_type = @type)
        ORDER BY e.id = @identifier DESC, e.normalized_name = @normalized DESC, e.updated_at DESC
        LIMIT 20
        """;

    public async Task<EntityMatches> RetrieveByIdentifierAsync(string userId, string identifier, string? entityType, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(identifier))
        {
            throw new TruthInputException("identifier", "is required: an entity id, a name or an alias");
        }

        return new EntityMatches(await database.QueryListAsync(DbScope.ForUser(userId), ByIdentifierSql,
            parameters =>
            {
                parameters.AddWithValue("identifier", identifier.Trim());
                parameters.AddWithValue("normalized", EntityIdentity.Normalize(identifier));
                parameters.Add(EntityTypeFilter(entityType));
            },
            reader => ReadSummary(reader),
            cancellationToken));
    }

    /// <summary>list_entity_types: the person's rows of entity_types, whose counts the entities' trigger keeps.</summary>
    internal const string EntityTypesSql = "SELECT entity_type, fields::text, live_count FROM entity_types ORDER BY entity_type";

    public async Task<EntityTypeList> ListEntityTypesAsync(string userId, CancellationToken cancellationToken) =>
        new(await database.QueryListAsync(DbScope.ForUser(userId), EntityTypesSql,
            _ => { },
            reader => new EntityTypeView(reader.GetString(0), reader.GetInt64(2), JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(1))!),
            cancellationToken));

    /// <summary>list_observations: the entity's and those merged into it, newest first (observations_entity_recent_idx).</summary>
    internal const string ObservationsSql = """
        SELECT o.id, o.entity_id, o.fields::text, o.source, o.specificity, o.observed_at
        FROM observations o
        WHERE o.entity_id = ANY (ARRAY(SELECT @id UNION ALL SELECT id FROM entities WHERE merged_to = @id))
        ORDER BY o.observed_at DESC, o.created_at DESC
        LIMIT @limit OFFSET @offset
        """;

    public Task<ObservationPage> ListObservationsAsync(string userId, string entityId, int? limit, int? offset, CancellationToken cancellationToken)
    {
        var (take, skip) = Page(limit, offset);
        return database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            var liveId = await LiveIdAsync(connection, transaction, entityId, cancellationToken) ?? throw NotFound(entityId);
            await using var command = new NpgsqlCommand(ObservationsSql, connection, transaction);
            command.Parameters.AddWithValue("id", liveId);
            command.Parameters.AddWithValue("limit", take + 1);
            command.Parameters.AddWithValue("offset", skip);
            var observations = new List<ObservationView>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                observations.Add(new ObservationView(reader.GetString(0), reader.GetString(1), StoredFields.FromJsonb(reader.GetString(2)),
                    reader.GetString(3), reader.GetInt32(4), reader.GetFieldValue<DateTimeOffset>(5)));
            }

            var (page, next) = Slice(observations, take, skip);
            return new ObservationPage(take, skip, next, page);
        }, cancellationToken);
    }

    // ------------------------------------------------------------------ edits

    /// <summary>A user correction of one field: an observation that outranks every structured or AI one.</summary>
    public async Task<EntitySnapshot> CorrectAsync(string userId, string entityId, string field, JsonElement value, CancellationToken cancellationToken)
    {
        RequireText("field", field, 200);
        RequireShallow("value", value);
        await database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            var liveId = await LiveIdAsync(connection, transaction, entityId, cancellationToken) ?? throw NotFound(entityId);
            var now = timeProvider.GetUtcNow();
            var type = await ScalarAsync<string>(connection, transaction, "SELECT entity_type FROM entities WHERE id = @id", liveId, cancellationToken);
            var fields = JsonSerializer.SerializeToElement(new Dictionary<string, JsonElement> { [field] = value });
            await AddObservationAsync(connection, transaction, userId, liveId, type!, fields, Sources.Correction, 100, now, null, now, cancellationToken);
            await RefreshSnapshotAsync(connection, transaction, userId, liveId, now, cancellationToken);
        }, cancellationToken);
        return await RetrieveSnapshotAsync(userId, entityId, cancellationToken);
    }

    public async Task<EntitySnapshot> MergeAsync(string userId, string sourceId, string targetId, CancellationToken cancellationToken)
    {
        await database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            var source = await LiveIdAsync(connection, transaction, sourceId, cancellationToken) ?? throw NotFound(sourceId);
            var target = await LiveIdAsync(connection, transaction, targetId, cancellationToken) ?? throw NotFound(targetId);
            if (source == target)
            {
                throw new TruthInputException("source_entity_id", "is already the target entity (or merged into it)");
            }

            var now = timeProvider.GetUtcNow();
            await using var merge = new NpgsqlCommand("""
                UPDATE entities t SET
                    aliases = ARRAY(SELECT DISTINCT unnest(t.aliases || s.aliases || ARRAY[s.canonical_name])),
                    normalized_aliases = ARRAY(SELECT DISTINCT unnest(t.normalized_aliases || s.normalized_aliases || ARRAY[s.normalized_name])),
                    updated_at = @now
                FROM entities s WHERE t.id = @target AND s.id = @source;
                UPDATE entities SET merged_to = @target, updated_at = @now WHERE id = @source OR merged_to = @source;
                UPDATE relationships SET source_entity_id = @target WHERE source_entity_id = @source;
                UPDATE relationships SET target_entity_id = @target WHERE target_entity_id = @source;
                UPDATE relationships SET deleted_at = @now WHERE source_entity_id = target_entity_id;
                DELETE FROM entity_snapshots WHERE entity_id = @source;
                """, connection, transaction);
            merge.Parameters.AddWithValue("source", source);
            merge.Parameters.AddWithValue("target", target);
            merge.Parameters.AddWithValue("now", now);
            await merge.ExecuteNonQueryAsync(cancellationToken);
            await RefreshSnapshotAsync(connection, transaction, userId, target, now, cancellationToken);
        }, cancellationToken);
        return await RetrieveSnapshotAsync(userId, targetId, cancellationToken);
    }

    public Task<EntitySummary> SetDeletedAsync(string userId, string entityId, bool deleted, CancellationToken cancellationToken) =>
        database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand($"""
                WITH changed AS (
                    UPDATE entities SET deleted_at = CASE WHEN @deleted THEN coalesce(deleted_at, @now) END, updated_at = @now
                    WHERE id = @id AND merged_to IS NULL RETURNING *)
                SELECT {SummaryColumns} FROM changed e LEFT JOIN entity_snapshots s ON s.entity_id = e.id
                """, connection, transaction);
            command.Parameters.AddWithValue("id", entityId);
            command.Parameters.AddWithValue("deleted", deleted);
            command.Parameters.AddWithValue("now", timeProvider.GetUtcNow());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            return await reader.ReadAsync(cancellationToken) ? ReadSummary(reader) : throw NotFound(entityId);
        }, cancellationToken);

    // ------------------------------------------------------------------ graph and timeline

    public async Task<RelationshipPage> ListRelationshipsAsync(string userId, string? entityId, string? type, int? limit, int? offset,
        CancellationToken cancellationToken)
    {
        var (take, skip) = Page(limit, offset);
        if (type is not null && !RelationshipTypes.All.Contains(type))
        {
            throw new TruthInputException("type", $"must be one of {string.Join(", ", RelationshipTypes.All.Order())}");
        }

        var rows = await database.QueryListAsync(DbScope.ForUser(userId), """
            SELECT id, relationship_type, source_entity_id, target_entity_id, snapshot::text FROM relationships
            WHERE deleted_at IS NULL
              AND (@entity::text IS NULL OR source_entity_id = @entity OR target_entity_id = @entity)
              AND (@type::text IS NULL OR relationship_type = @type)
            ORDER BY created_at, id LIMIT @limit OFFSET @offset
            """,
            parameters =>
            {
                parameters.Add(new NpgsqlParameter("entity", NpgsqlDbType.Text) { Value = (object?)entityId ?? DBNull.Value });
                parameters.Add(new NpgsqlParameter("type", NpgsqlDbType.Text) { Value = (object?)type ?? DBNull.Value });
                parameters.AddWithValue("limit", take + 1);
                parameters.AddWithValue("offset", skip);
            },
            reader => new RelationshipView(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                StoredFields.FromJsonb(reader.GetString(4))),
            cancellationToken);
        var (page, next) = Slice(rows, take, skip);
        return new RelationshipPage(take, skip, next, page);
    }

    public Task<RelatedEntities> RetrieveRelatedAsync(string userId, string entityId, string? direction, IReadOnlyList<string>? types,
        int? hops, CancellationToken cancellationToken)
    {
        direction ??= "both";
        if (direction is not ("outgoing" or "incoming" or "both"))
        {
            throw new TruthInputException("direction", "must be outgoing, incoming or both");
        }

        if (hops is < 1 or > 3)
        {
            throw new TruthInputException("hops", "must be 1, 2 or 3");
        }

        if (types?.FirstOrDefault(t => !RelationshipTypes.All.Contains(t)) is { } unknown)
        {
            throw new TruthInputException("types", $"'{unknown}' is not one of {string.Join(", ", RelationshipTypes.All.Order())}");
        }

        return database.InTransactionAsync(DbScope.ForUser(userId), async (connection, transaction) =>
        {
            var start = await LiveIdAsync(connection, transaction, entityId, cancellationToken) ?? throw NotFound(entityId);
            await using var command = new NpgsqlCommand($"""
                WITH RECURSIVE walk (entity_id, hops, via_id, via_type, path) AS (
                    SELECT @start::text, 0, NULL::text, NULL::text, ARRAY[@start::text]
                    UNION ALL
                    SELECT next.entity_id, w.hops + 1, next.id, next.relationship_type, w.path || next.entity_id
                    FROM walk w
                    CROSS JOIN LATERAL (
                        SELECT r.id, r.relationship_type, r.target_entity_id AS entity_id FROM relationships r
                        WHERE @direction <> 'incoming' AND r.source_entity_id = w.entity_id AND r.deleted_at IS NULL
                          AND (@types::text[] IS NULL OR r.relationship_type = ANY (@types))
                        UNION ALL
                        SELECT r.id, r.relationship_type, r.source_entity_id FROM relationships r
                        WHERE @direction <> 'outgoing' AND r.target_entity_id = w.entity_id AND r.deleted_at IS NULL
                          AND (@types::text[] IS NULL OR r.relationship_type = ANY (@types))
                    ) next
                    WHERE w.hops < @hops AND NOT next.entity_id = ANY (w.path))
                SELECT DISTINCT ON (w.entity_id) {SummaryColumns}, w.hops, w.via_id, w.via_type
                FROM walk w JOIN entities e ON e.id = w.entity_id LEFT JOIN entity_snapshots s ON s.entity_id = e.id
                WHERE w.hops > 0 AND e.deleted_at IS NULL
                ORDER BY w.entity_id, w.hops
                LIMIT 500
                """, connection, transaction);
            command.Parameters.AddWithValue("start", start);
            command.Parameters.AddWithValue("direction", direction);
            command.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = types is { Count: > 0 } ? types.ToArray() : DBNull.Value });
            command.Parameters.AddWithValue("hops", hops ?? 1);
            var related = new List<RelatedEntity>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                related.Add(new RelatedEntity(ReadSummary(reader), reader.GetInt32(8), reader.GetString(9), reader.GetString(10)));
            }

            return new RelatedEntities(related.OrderBy(r => r.Hops).ThenBy(r => r.Entity.CanonicalName, StringComparer.Ordinal).ToList());
        }, cancellationToken);
    }

    public async Task<TimelinePage> ListTimelineAsync(string userId, string? entityType, DateTimeOffset? from, DateTimeOffset? to,
        int? limit, int? offset, CancellationToken cancellationToken, string? cursor = null)
    {
        var (take, skip) = Page(limit, offset);
        var after = PageCursor.Read(cursor, PageCursor.Timeline, offset);
        long afterId = 0;
        if (after is { } given && !long.TryParse(given.Id, NumberStyles.None, CultureInfo.InvariantCulture, out afterId))
        {
            throw new TruthInputException("cursor", "is not a next_cursor this list gave; ask again without it");
        }

        if (from > to)
        {
            throw new TruthInputException("from", "must not be after to");
        }

        var sql = TimelinePages.For(ofType: entityType is not null, afterCursor: after is not null, atOffset: skip > 0);
        var rows = await database.QueryListAsync(DbScope.ForUser(userId), sql,
            parameters =>
            {
                parameters.Add(EntityTypeFilter(entityType));
                parameters.Add(new NpgsqlParameter("from", NpgsqlDbType.TimestampTz) { Value = (object?)from ?? DBNull.Value });
                parameters.Add(new NpgsqlParameter("to", NpgsqlDbType.TimestampTz) { Value = (object?)to ?? DBNull.Value });
                if (after is { } place)
                {
                    parameters.AddWithValue("afterAt", place.At);
                    parameters.AddWithValue("afterId", afterId);
                }

                parameters.AddWithValue("limit", take + 1);
                parameters.AddWithValue("offset", skip);
            },
            reader => (Event: new TimelineEvent(reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), reader.GetString(5)), Id: reader.GetInt64(6)),
            cancellationToken);
        var (page, next) = Slice(rows, take, skip);
        return new TimelinePage(take, skip, after is null ? next : null, page.Select(row => row.Event).ToList(),
            next is null ? null : PageCursor.Write(PageCursor.Timeline, page[^1].Event.EventAt, page[^1].Id.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// list_timeline_events along timeline_events_at_idx (timeline_events_type_at_idx with a type); from
    /// and to as bounds of that index (given or not: the missing one is the end of time, so one prepared
    /// plan serves every call); after a cursor, from just past its (event_at, id).
    /// </summary>
    internal static readonly PageStatements TimelinePages = new(TimelineFrom, "t.entity_type = @type", "(t.event_at, t.id) > (@afterAt, @afterId)", TimelineOrder);

    private const string TimelineFrom = """
        SELECT t.event_at, t.entity_id, t.entity_type, e.canonical_name, t.field, t.observation_id, t.id
        FROM timeline_events t JOIN entities e ON e.id = t.entity_id
        WHERE e.deleted_at IS NULL
          AND t.event_at >= coalesce(@from::timestamptz, '-infinity') AND t.event_at <= coalesce(@to::timestamptz, 'infinity')
        """;

    private const string TimelineOrder = "ORDER BY t.event_at, t.id LIMIT @limit";

    private static async Task<T?> ScalarAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, string id, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("id", id);
        return (T?)await command.ExecuteScalarAsync(cancellationToken);
    }

    /// <summary>The optional entity-type filter of the list queries, normalized as stored.</summary>
    private static NpgsqlParameter EntityTypeFilter(string? entityType) =>
        new("type", NpgsqlDbType.Text) { Value = entityType is null ? DBNull.Value : EntityIdentity.NormalizeType(entityType) };

    private static TruthNotFoundException NotFound(string entityId) => new($"No entity with id {entityId}.");
}
