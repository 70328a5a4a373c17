-- A person's data can grow without the reads slowing down (issue 26), part three: retrieve_entities'
-- search by a trigram index. Row-level security lets an index serve only leakproof operators ahead
-- of a policy's check, LIKE and pg_trgm's operators are not, and only a superuser may mark one
-- leakproof: no index on `entities` can serve a search under its forced policy. So each entity's
-- searchable text (its normalized name and aliases) is kept here, by a trigger, in a table whose
-- read policy is `true`: the planner may then serve `LIKE '%...%'` from the GIN index built in 0016.
--
-- What that opens, and what it does not: writes stay the person's own (the owner policy, as on every
-- user table, so nobody plants or changes another person's rows); reads of this table are open to
-- the app role. Its one reader, neotoma_search_entities (below), filters on the person; TruthStore's
-- search joins what it finds to `entities`, whose forced policy returns the person's rows only, and
-- returns `entities`' columns, never this table's text. docs/storage.md says the same.
--
-- The index (0016) is one GIN over (user_id, haystack): pg_trgm's trigrams and btree_gin's equality
-- on user_id in one index, so a lookup intersects the person's entries with the text's trigrams
-- (each trigram's entries are everyone's, so other people's names weigh a little; never a scan of
-- them). Both are trusted extensions: the database's owner creates them (locally and in the tests);
-- on Azure the post-provision hook creates them as the administrator and the Bicep allow-lists them
-- (azure.extensions), so these lines find them there.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE entity_search (
    entity_id   text PRIMARY KEY REFERENCES entities (id),
    user_id     text NOT NULL,
    haystack    text NOT NULL
);
SELECT neotoma_protect_user_table('entity_search');
CREATE POLICY search_reads ON entity_search FOR SELECT USING (true);

-- Name and aliases, one per line: normalized text never holds a line break (whitespace is folded
-- to single spaces), so a match never spans a name and an alias.
CREATE FUNCTION neotoma_search_text(name text, aliases text[]) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT name || coalesce(E'\n' || array_to_string(aliases, E'\n'), '') $$;

CREATE FUNCTION neotoma_index_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO entity_search (entity_id, user_id, haystack)
    VALUES (NEW.id, NEW.user_id, neotoma_search_text(NEW.normalized_name, NEW.normalized_aliases))
    ON CONFLICT (entity_id) DO UPDATE SET haystack = EXCLUDED.haystack
        WHERE entity_search.haystack IS DISTINCT FROM EXCLUDED.haystack;
    RETURN NULL;
END $$;

-- The person's entities whose name or an alias matches a LIKE pattern, by the index. The planner's
-- estimate for a trigram lookup weighs each trigram's entries over every person's rows, and where
-- many names share trigrams it takes a sequential scan of the whole table (every person's rows)
-- for cheaper than the index: 40 ms against 2 for the index at 200,000 rows (./neotoma bench
-- scale). Planned apart, with sequential scans ruled out, the lookup always goes through the index.
CREATE FUNCTION neotoma_search_entities(pattern text) RETURNS SETOF text
    LANGUAGE sql STABLE ROWS 100 SET enable_seqscan = off
    AS $$ SELECT entity_id FROM entity_search
          WHERE user_id = current_setting('neotoma.user_id', true) AND haystack LIKE pattern $$;

CREATE TRIGGER entities_search AFTER INSERT OR UPDATE OF normalized_name, normalized_aliases ON entities
    FOR EACH ROW EXECUTE FUNCTION neotoma_index_search_text();

-- The entities stored before this trigger, read past the forced policy for this transaction only
-- (a migration sets no user), as 0013 did; the trigger already holds the table.
ALTER TABLE entities NO FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_search NO FORCE ROW LEVEL SECURITY;
INSERT INTO entity_search (entity_id, user_id, haystack)
SELECT id, user_id, neotoma_search_text(normalized_name, normalized_aliases) FROM entities
ON CONFLICT (entity_id) DO NOTHING;
ALTER TABLE entities FORCE ROW LEVEL SECURITY;
ALTER TABLE entity_search FORCE ROW LEVEL SECURITY;
