-- A search's page from the trigram index without counting every match (issue 26), for a text the
-- search's walks found common enough (EntitySearch.CountsMatches) that counting would cost more than
-- a total is worth, yet too rare among the newest entities to walk for: one of the newest 250 of a
-- million suggests some 4,000 matches (the bench's `scale 99`, 11,111 in all).
-- neotoma_search_entities (0017) returns every match to the statement that counts them and takes the
-- page, so each match is handed over twice (the function's result kept whole, then the count's copy):
-- at a million entities, 11,111 matches took 11.3 ms this way against 8.4 ms for the page taken
-- here, where the newest are kept as they are found and only the page's ids leave (pgbench on a copy
-- of the bench's million). The lookup and its conditions are 0017's; a place in the list (after_at,
-- after_id) is the cursor's, as TruthStore.RetrieveAfter reads it on `entities`.
CREATE FUNCTION neotoma_search_page(lookup text, pattern text, include_deleted boolean, of_type text,
                                    after_at timestamptz, after_id text, page_size integer, skip integer)
    RETURNS TABLE (id text, updated_at timestamptz)
    LANGUAGE sql STABLE ROWS 100 SET enable_seqscan = off
    AS $$ SELECT entity_id, updated_at FROM entity_search
          WHERE user_id = current_setting('neotoma.user_id', true) AND haystack LIKE lookup
            AND (pattern = lookup OR haystack LIKE pattern)
            AND NOT merged AND (include_deleted OR NOT deleted) AND (of_type IS NULL OR entity_type = of_type)
            AND (after_at IS NULL OR (updated_at <= after_at AND (updated_at < after_at OR entity_id > after_id)))
          ORDER BY updated_at DESC, entity_id
          LIMIT page_size OFFSET skip $$;
