-- A search's walks (EntitySearch.Walk) and its scan match each entity's name and aliases as
-- neotoma_search_text (0015) joins them. Declared IMMUTABLE while its body calls array_to_string,
-- which PostgreSQL marks STABLE, the function could not be inlined into those statements: it ran
-- through the SQL-function executor once per entity read, about 4 µs, four fifths of a walked
-- entity's cost (5,000 entities: 23 ms, against 3 ms with the body inline). STABLE is what its body
-- is; no index or generated column uses the function (entity_search stores the text it returns),
-- so nothing requires it to be IMMUTABLE.
CREATE OR REPLACE FUNCTION neotoma_search_text(name text, aliases text[]) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT name || coalesce(E'\n' || array_to_string(aliases, E'\n'), '') $$;
