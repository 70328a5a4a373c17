-- neotoma: no transaction
-- A person's data can grow without the reads slowing down (issue 26), part two: an index for each
-- read's query, leading with user_id (row-level security's own check, an equality any index can
-- serve), then the read's order, so a page reads its rows and no more. Built CONCURRENTLY: a large
-- table keeps taking writes while its index is built. Outside a transaction (PostgreSQL requires it),
-- so each index is dropped first: a run that failed part-way is repaired by running again.

-- retrieve_entities, newest first, with and without a type; both skip merged entities.
DROP INDEX CONCURRENTLY IF EXISTS entities_recent_idx;
CREATE INDEX CONCURRENTLY entities_recent_idx ON entities (user_id, updated_at DESC, id) WHERE merged_to IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS entities_type_recent_idx;
CREATE INDEX CONCURRENTLY entities_type_recent_idx ON entities (user_id, entity_type, updated_at DESC, id) WHERE merged_to IS NULL;

-- An entity and those merged into it (snapshots, observations, merges): without it, every store
-- read the person's whole table to find what was merged into the entity it wrote.
DROP INDEX CONCURRENTLY IF EXISTS entities_merged_to_idx;
CREATE INDEX CONCURRENTLY entities_merged_to_idx ON entities (merged_to) WHERE merged_to IS NOT NULL;

-- list_observations, newest first.
DROP INDEX CONCURRENTLY IF EXISTS observations_entity_recent_idx;
CREATE INDEX CONCURRENTLY observations_entity_recent_idx ON observations (entity_id, observed_at DESC, created_at DESC);
DROP INDEX CONCURRENTLY IF EXISTS observations_entity_idx;

-- list_timeline_events in time order, with and without a type.
DROP INDEX CONCURRENTLY IF EXISTS timeline_events_at_idx;
CREATE INDEX CONCURRENTLY timeline_events_at_idx ON timeline_events (user_id, event_at, id);
DROP INDEX CONCURRENTLY IF EXISTS timeline_events_type_at_idx;
CREATE INDEX CONCURRENTLY timeline_events_type_at_idx ON timeline_events (user_id, entity_type, event_at, id);
DROP INDEX CONCURRENTLY IF EXISTS timeline_events_user_idx;

-- The GIN index on aliases could not serve a lookup under row-level security (entity_aliases does).
DROP INDEX CONCURRENTLY IF EXISTS entities_aliases_idx;
