-- neotoma: no transaction
-- A person's data can grow without the reads slowing down (issue 26), part four: a search the trigram
-- index serves (a rare text, or one rare among the newest entities and common further down) pages
-- from entity_search alone. Until now each match was joined to `entities` for its place in the list
-- and whether it is listed there (merged, deleted, its type) before the newest could be taken: about
-- 2.5 µs a match, 25 ms for 11,111 matches at a million entities. entity_search now keeps those with
-- the text, kept by the same trigger, so the index's matches are ordered where they are found and only
-- a page's rows are read from `entities`.
--
-- Filling new columns in place would write every row again and every row's index entries (GIN has no
-- HOT updates): 70 s a million rows here. So the table is built anew and swapped in, in one
-- transaction (the DO block below): writes of entities wait while it fills (9 s for 1.1 million rows
-- here; reads of entities do not, searches by the index wait for the swap at its end). Each person's
-- rows are read under their own policy: the block sets each person in turn (those entity_search
-- already holds, which its read policy lets it list), so no policy is lifted. The GIN index is then built without a lock; until it is, a search reads the table whole
-- (correct, slower: seconds at a million rows). Each step can run again after a failure part-way.
-- The table keeps a tenth of each page free (fillfactor 90), so that the update every write of an
-- entity now makes (its updated_at) stays on its page and leaves the indexes alone (a HOT update:
-- 2,000 of 2,000 single-entity writes here).
DO $$
DECLARE
    person text;
BEGIN
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'entity_search'::regclass AND attname = 'updated_at') THEN
        RETURN;
    END IF;

    -- Its key is added once it is full: built in one pass, not row by row.
    CREATE TABLE entity_search_next (
        entity_id   text NOT NULL REFERENCES entities (id),
        user_id     text NOT NULL,
        haystack    text NOT NULL,
        entity_type text NOT NULL,
        updated_at  timestamptz NOT NULL,
        merged      boolean NOT NULL,
        deleted     boolean NOT NULL
    ) WITH (fillfactor = 90);
    -- Owned as the table it replaces, whoever runs this (a superuser's table would refuse the app's writes).
    EXECUTE format('ALTER TABLE entity_search_next OWNER TO %I',
        (SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'entity_search'));

    -- Taken before the copy: a write of an entity waits from here to the commit, so none is missed.
    LOCK TABLE entities IN SHARE ROW EXCLUSIVE MODE;
    -- Everyone with an entity has rows in entity_search: 0015 copied every entity and its trigger adds each new one.
    FOR person IN SELECT DISTINCT user_id FROM entity_search LOOP
        PERFORM set_config('neotoma.user_id', person, true);
        INSERT INTO entity_search_next (entity_id, user_id, haystack, entity_type, updated_at, merged, deleted)
        SELECT id, user_id, neotoma_search_text(normalized_name, normalized_aliases), entity_type, updated_at,
               merged_to IS NOT NULL, deleted_at IS NOT NULL
        FROM entities WHERE user_id = person;
    END LOOP;
    ALTER TABLE entity_search_next ADD CONSTRAINT entity_search_next_pkey PRIMARY KEY (entity_id);

    -- 0015's reader, neotoma_search_entities(pattern), stays for instances of the previous release still
    -- serving while this runs (it reads the same columns of the new table); a later release drops it.
    DROP TABLE entity_search;
    ALTER TABLE entity_search_next RENAME TO entity_search;
    ALTER INDEX entity_search_next_pkey RENAME TO entity_search_pkey;
    ALTER TABLE entity_search RENAME CONSTRAINT entity_search_next_entity_id_fkey TO entity_search_entity_id_fkey;
    PERFORM neotoma_protect_user_table('entity_search');
    CREATE POLICY search_reads ON entity_search FOR SELECT USING (true);

    CREATE OR REPLACE FUNCTION neotoma_index_search_text() RETURNS trigger LANGUAGE plpgsql AS $f$
    BEGIN
        INSERT INTO entity_search AS s (entity_id, user_id, haystack, entity_type, updated_at, merged, deleted)
        VALUES (NEW.id, NEW.user_id, neotoma_search_text(NEW.normalized_name, NEW.normalized_aliases), NEW.entity_type,
                NEW.updated_at, NEW.merged_to IS NOT NULL, NEW.deleted_at IS NOT NULL)
        ON CONFLICT (entity_id) DO UPDATE SET haystack = EXCLUDED.haystack, entity_type = EXCLUDED.entity_type,
            updated_at = EXCLUDED.updated_at, merged = EXCLUDED.merged, deleted = EXCLUDED.deleted
            WHERE (s.haystack, s.entity_type, s.updated_at, s.merged, s.deleted)
                IS DISTINCT FROM (EXCLUDED.haystack, EXCLUDED.entity_type, EXCLUDED.updated_at, EXCLUDED.merged, EXCLUDED.deleted);
        RETURN NULL;
    END $f$;
    DROP TRIGGER entities_search ON entities;
    CREATE TRIGGER entities_search
        AFTER INSERT OR UPDATE OF normalized_name, normalized_aliases, entity_type, updated_at, merged_to, deleted_at ON entities
        FOR EACH ROW EXECUTE FUNCTION neotoma_index_search_text();

    -- The person's listed entities whose name or an alias matches a LIKE pattern, with their place in the
    -- list, by the index (deleted ones too when asked, of one type when given). The index looks up
    -- `lookup`, the pattern itself or one of its words (EntitySearch.RarestWord: a word common in the
    -- person's names would make it read long lists of entries), and what it finds is then matched against
    -- the whole pattern, a condition it cannot serve (an OR). Planned apart with sequential scans ruled
    -- out, as its predecessor in 0015 was, so the index always serves it.
    CREATE OR REPLACE FUNCTION neotoma_search_entities(lookup text, pattern text, include_deleted boolean, of_type text)
        RETURNS TABLE (id text, updated_at timestamptz)
        LANGUAGE sql STABLE ROWS 100 SET enable_seqscan = off
        AS $g$ SELECT entity_id, updated_at FROM entity_search
              WHERE user_id = current_setting('neotoma.user_id', true) AND haystack LIKE lookup
                AND (pattern = lookup OR haystack LIKE pattern)
                AND NOT merged AND (include_deleted OR NOT deleted) AND (of_type IS NULL OR entity_type = of_type) $g$;
END $$;

DROP INDEX CONCURRENTLY IF EXISTS entity_search_trgm_idx;
CREATE INDEX CONCURRENTLY entity_search_trgm_idx ON entity_search USING gin (user_id, haystack gin_trgm_ops) WITH (fastupdate = off);
