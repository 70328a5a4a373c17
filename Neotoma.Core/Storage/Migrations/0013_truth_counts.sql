-- A person's data can grow without the reads slowing down (issue 26), part one: what a read would
-- otherwise count or search row by row is kept up to date as entities change.
--
-- Per user and entity type, how many entities are live and how many soft-deleted (merged ones count
-- in neither): retrieve_entities' total and list_entity_types' counts read these instead of counting
-- every entity on every call. Kept by a trigger, so every path that changes an entity keeps them.
ALTER TABLE entity_types
    ADD COLUMN live_count    bigint NOT NULL DEFAULT 0,
    ADD COLUMN deleted_count bigint NOT NULL DEFAULT 0;

CREATE FUNCTION neotoma_count_entity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    live_delta    integer := 0;
    deleted_delta integer := 0;
    owner         text;
    kind          text;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        owner := OLD.user_id;
        kind := OLD.entity_type;
        IF OLD.merged_to IS NULL THEN
            IF OLD.deleted_at IS NULL THEN live_delta := live_delta - 1; ELSE deleted_delta := deleted_delta - 1; END IF;
        END IF;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        owner := NEW.user_id;
        kind := NEW.entity_type;
        IF NEW.merged_to IS NULL THEN
            IF NEW.deleted_at IS NULL THEN live_delta := live_delta + 1; ELSE deleted_delta := deleted_delta + 1; END IF;
        END IF;
    END IF;
    IF live_delta <> 0 OR deleted_delta <> 0 THEN
        INSERT INTO entity_types (user_id, entity_type, live_count, deleted_count)
        VALUES (owner, kind, live_delta, deleted_delta)
        ON CONFLICT (user_id, entity_type) DO UPDATE SET
            live_count = entity_types.live_count + EXCLUDED.live_count,
            deleted_count = entity_types.deleted_count + EXCLUDED.deleted_count;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER entities_count AFTER INSERT OR DELETE OR UPDATE OF merged_to, deleted_at ON entities
    FOR EACH ROW EXECUTE FUNCTION neotoma_count_entity();

-- Aliases as rows: an alias lookup by a btree on equality. Row-level security lets an index serve
-- only leakproof operators before the policy's own check; text equality is, array containment
-- (the GIN index on normalized_aliases) is not, so that index could never serve a person's lookup.
CREATE TABLE entity_aliases (
    user_id             text NOT NULL,
    normalized_alias    text NOT NULL,
    entity_id           text NOT NULL REFERENCES entities (id),
    PRIMARY KEY (user_id, normalized_alias, entity_id)
);
CREATE INDEX entity_aliases_entity_idx ON entity_aliases (entity_id);
SELECT neotoma_protect_user_table('entity_aliases');

CREATE FUNCTION neotoma_index_aliases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.normalized_aliases IS NOT DISTINCT FROM NEW.normalized_aliases THEN
        RETURN NULL;
    END IF;
    DELETE FROM entity_aliases WHERE entity_id = NEW.id AND NOT normalized_alias = ANY (NEW.normalized_aliases);
    INSERT INTO entity_aliases (user_id, normalized_alias, entity_id)
    SELECT NEW.user_id, a, NEW.id FROM unnest(NEW.normalized_aliases) a
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE TRIGGER entities_aliases AFTER INSERT OR UPDATE OF normalized_aliases ON entities
    FOR EACH ROW EXECUTE FUNCTION neotoma_index_aliases();

-- The rows stored before these triggers. Forced row-level security hides every user's rows from a
-- migration (it sets no user), so the owner reads past it for this transaction only; the triggers
-- above already hold the table, so no entity changes between the count and the commit.
ALTER TABLE entities NO FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_types NO FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_aliases NO FORCE ROW LEVEL SECURITY;
INSERT INTO entity_types (user_id, entity_type, live_count, deleted_count)
SELECT user_id, entity_type, count(*) FILTER (WHERE deleted_at IS NULL), count(*) FILTER (WHERE deleted_at IS NOT NULL)
FROM entities WHERE merged_to IS NULL GROUP BY user_id, entity_type
ON CONFLICT (user_id, entity_type) DO UPDATE SET live_count = EXCLUDED.live_count, deleted_count = EXCLUDED.deleted_count;
INSERT INTO entity_aliases (user_id, normalized_alias, entity_id)
SELECT user_id, unnest(normalized_aliases), id FROM entities
ON CONFLICT DO NOTHING;
ALTER TABLE entities FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_types FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_aliases FORCE ROW LEVEL SECURITY;
