-- neotoma: no transaction
-- The index that serves retrieve_entities' search (see 0015): the person (btree_gin) and the text's
-- trigrams (pg_trgm) in one GIN. Built CONCURRENTLY so that
-- entities keep being stored while it is built; dropped first, so a run that failed part-way is
-- repaired by running again.
DROP INDEX CONCURRENTLY IF EXISTS entity_search_trgm_idx;
-- fastupdate off: new entries go straight into the index instead of a pending list that every
-- search would read whole (everyone's latest writes, up to 4 MB) until the next vacuum.
CREATE INDEX CONCURRENTLY entity_search_trgm_idx ON entity_search USING gin (user_id, haystack gin_trgm_ops) WITH (fastupdate = off);
