namespace Neotoma.Core.Truth;

/// <summary>
/// How retrieve_entities finds a page of a search (issue 26) at a cost that does not follow how much
/// the person has stored. A page is the newest matches, so two ways can find it:
/// <list type="bullet">
/// <item><b>Walking</b> the person's entities newest first (entities_recent_idx), matching each name
/// and alias, until the page is full: cheap when the text is common (a text in every tenth entity
/// fills a page of 20 within about 200 of them), and what a broad search needs, since the index below would
/// first find and sort every match (2.1 s for a text in all of a million entities, when each match was
/// also joined to its entity).</item>
/// <item><b>The trigram index</b> on <c>entity_search</c> (migrations 0015 to 0017), which finds
/// every match wherever it is: cheap when the text is rare, where a walk would read everything.</item>
/// </list>
/// A search first walks <see cref="FirstWalk"/> entities; what it found there tells how common the
/// text is, and <see cref="WalksOn"/> decides between walking on and asking the index, whichever is
/// expected to read fewer rows. The walk on reads until the page is full, at most
/// <see cref="MaxWalk"/> entities (matches often come in clusters: it reads on past a stretch without
/// any); a page still short after it is asked of the index. A total is exact when every match was seen
/// (walks that reached the end of the list from its start: a list no longer than the two walks is read
/// to its end, <see cref="WalkToTheEnd"/>; or the index's count, taken where the walks say the matches
/// are few, <see cref="CountsMatches"/>); a page that a walk filled early has none.
/// </summary>
internal static class EntitySearch
{
    /// <summary>Entities the first walk reads (about a quarter of a millisecond: a walk reads one in about 0.9 µs).</summary>
    public const int FirstWalk = 250;

    /// <summary>The most entities the walk after the first reads (about 4 ms); a text rarer than that asks the index.</summary>
    public const int MaxWalk = 4000;

    /// <summary>
    /// What a match found by the index weighs beside an entity read by a walk: about the same, measured
    /// in psql on copies of the bench's entities. A match, rechecked and sorted where entity_search holds
    /// them (0017), costs about 0.9 µs at a million entities (a text in 111,111 entities against one in
    /// 11,111); a walked entity about 0.9 µs too (a walk of 4,250 against one of 250, and of 20,250, at
    /// 100,000), since its text is matched inline (0018: it was 3 µs while a function call per entity
    /// matched it). The matches are estimated from the newest entities, where a text is often rarer than
    /// further down (then the index finds far more than estimated), and a walk is bounded while the
    /// index's matches are not: where the two ways come out even, walking is the safer bet.
    /// </summary>
    private const double IndexCostPerMatch = 1.0;

    /// <summary>
    /// After a first walk that read <paramref name="walked"/> entities and found <paramref name="hits"/>
    /// matches, short of the <paramref name="need"/> a page needs, in a list of <paramref name="listed"/>:
    /// walk on (<see cref="FurtherWalk"/>) when the rows that should find the rest cost less than the
    /// matches the index would find and stay within <see cref="FirstWalk"/> + <see cref="MaxWalk"/>
    /// rows in all, else ask the index. No match at all says the text is rarer than one in
    /// <paramref name="walked"/>: the index then has little to find.
    /// </summary>
    public static bool WalksOn(long walked, long hits, int need, long listed)
    {
        if (hits == 0 || walked == 0)
        {
            return false;
        }

        var density = (double)hits / walked;
        // Half again as far as the density says, so that a text a little rarer further down still fills the page.
        var rows = Math.Ceiling((need - hits) / density * 1.5);
        var expectedMatches = density * listed;
        return walked + rows <= FirstWalk + MaxWalk && rows <= expectedMatches * IndexCostPerMatch;
    }

    /// <summary>
    /// The most matches the walks may suggest for the index to count them all for a total: counting
    /// keeps every match the index finds to count it besides taking the newest (about a quarter of the
    /// index's cost: 11.3 ms against 8.4 ms for a text in 11,111 of a million entities, in pgbench on a
    /// copy of the bench's million), and a total in the thousands tells a person little more than
    /// that there are further pages.
    /// </summary>
    public const int CountedMatches = 1000;

    /// <summary>
    /// Whether the index's way counts every match for a total, after walks that read
    /// <paramref name="walked"/> of a list of <paramref name="listed"/> entities and found
    /// <paramref name="hits"/>: when the matches they suggest in the whole list are at most
    /// <see cref="CountedMatches"/>. Walks that found none say the text is rare: it is counted.
    /// </summary>
    public static bool CountsMatches(long walked, long hits, long listed) =>
        hits == 0 || walked == 0 || (double)hits / walked * listed <= CountedMatches;

    /// <summary>
    /// The first walk: the person's entities in the list's order (newest first, then by id), from the
    /// start or after a place, at most <see cref="FirstWalk"/> of them, each matched as the index's
    /// haystack holds it (name and aliases, one per line, so a match never spans two). One row per
    /// match (at most @need, in order), or one row without an entity when there is none; every row
    /// carries the entities read, the matches among them, the last one read (where a further walk
    /// starts), the list's size (the counts kept in entity_types) and, when counting words, for each
    /// of @words (see <see cref="Words"/>) how many of the entities read hold it (else none).
    /// </summary>
    public static string Walk(bool ofType, bool afterPlace, bool countWords) =>
        Walks[(ofType ? 1 : 0) + (afterPlace ? 2 : 0) + (countWords ? 4 : 0)];

    /// <summary>
    /// The walk after a first one that neither filled the page nor reached the end of the list: on from
    /// where it ended (@afterAt, @afterId), at most <see cref="MaxWalk"/> entities, and no further than
    /// the @need-th match. It reads lazily (each entity numbered by its place in the window as it is read,
    /// PostgreSQL stopping the read once the @need-th match is found), so a text that the first
    /// walk found one in twenty-five times, then none for a while, costs one statement however far its
    /// next matches lie within the window. Rows as <see cref="Walk"/>'s: the entities read are those up to
    /// the last match (or the whole window when the page stays short), no list size, no words; the last
    /// column says whether the end of the list was reached.
    /// </summary>
    public static string FurtherWalk(bool ofType) => ofType ? FurtherWalkOfType : FurtherWalkAll;

    /// <summary>
    /// The walk on for a list no longer than <see cref="FirstWalk"/> + <see cref="MaxWalk"/> (the
    /// counts kept in entity_types say so) read from its start: rows as <see cref="Walk"/>'s after a
    /// place, at most <see cref="MaxWalk"/> entities, every one of them read whatever the page needs, so
    /// that the list's end is reached and its matches counted for an exact total.
    /// </summary>
    public static string WalkToTheEnd(bool ofType) => ofType ? WalkToTheEndOfType : WalkToTheEndAll;

    // The first walk's length is written into its statement: PostgreSQL keeps one plan for a prepared
    // statement only when that plan is not estimated dearer than planning each call, and it estimates a
    // LIMIT given as a parameter at a tenth of the person's entities, so a walk of @window was planned
    // at every call (about 0.5 ms, as much as reading the 250 entities; in psql, 0.9 ms a walk planned
    // each time against 0.45 ms with the one plan). The walk on has its window written in too, but it is
    // still planned at each call: its place in the list, a parameter, makes the one plan's estimate dearer
    // than a plan for the place given. Counting words is a statement of its own, so that a search of one
    // word (most) has none to count.
    private static readonly string[] Walks = [.. Enumerable.Range(0, 8).Select(i => BuildWalk((i & 1) != 0, (i & 2) != 0, (i & 4) != 0, FirstWalk))];

    private static readonly string WalkToTheEndAll = BuildWalk(ofType: false, afterPlace: true, countWords: false, MaxWalk);

    private static readonly string WalkToTheEndOfType = BuildWalk(ofType: true, afterPlace: true, countWords: false, MaxWalk);

    private static readonly string FurtherWalkAll = BuildFurtherWalk(ofType: false);

    private static readonly string FurtherWalkOfType = BuildFurtherWalk(ofType: true);

    private const string NoWordHits = "'{}'::bigint[]";

    /// <summary>Whether an entity (e) holds the text, matched as the index's haystack holds name and aliases.</summary>
    private const string Hit = "neotoma_search_text(e.normalized_name, e.normalized_aliases) LIKE '%' || @search || '%'";

    /// <summary>The entities a walk reads: the person's listed ones, of the type asked for, after the place when given.</summary>
    private static string Listed(bool ofType, bool afterPlace) =>
        $"{TruthStore.RetrieveListed}{(ofType ? " AND e.entity_type = @type" : "")}{(afterPlace ? $" AND {TruthStore.RetrieveAfter}" : "")}";

    private static string BuildWalk(bool ofType, bool afterPlace, bool countWords, int window)
    {
        var read = countWords
            ? "t.text, t.text LIKE '%' || @search || '%' AS hit\n    FROM entities e, LATERAL (SELECT neotoma_search_text(e.normalized_name, e.normalized_aliases) AS text) t"
            : $"{Hit} AS hit\n    FROM entities e";
        var wordHits = countWords
            ? "ARRAY(SELECT (SELECT count(*) FROM walked w WHERE w.text LIKE '%' || word || '%') FROM unnest(@words::text[]) WITH ORDINALITY u(word, n) ORDER BY n)"
            : NoWordHits;
        return $"""
            WITH walked AS MATERIALIZED (
                SELECT e.id, e.updated_at, {read}
                WHERE {Listed(ofType, afterPlace)}
                ORDER BY e.updated_at DESC, e.id
                LIMIT {window}),
            hits AS (
                SELECT id, row_number() OVER (ORDER BY updated_at DESC, id) AS n
                FROM walked WHERE hit ORDER BY updated_at DESC, id LIMIT @need),
            tally AS (SELECT count(*) AS walked, count(*) FILTER (WHERE hit) AS hits, {wordHits} AS word_hits FROM walked),
            tail AS (SELECT id, updated_at FROM walked ORDER BY updated_at, id DESC LIMIT 1)
            SELECT {TruthStore.SummaryColumns}, tally.walked, tally.hits, tail.id, tail.updated_at, {TruthStore.RetrieveTotal}, tally.word_hits,
                   tally.walked < {window}
            FROM tally LEFT JOIN tail ON true
            LEFT JOIN (hits JOIN entities e ON e.id = hits.id LEFT JOIN entity_snapshots s ON s.entity_id = e.id) ON true
            ORDER BY hits.n
            """;
    }

    // Each entity read has its place in the window (n) and whether it is the window's last (the end of
    // the list or of MaxWalk, known one entity ahead); of those, the matches and the last one are kept,
    // at most @need: PostgreSQL stops reading at the @need-th match. The LIMIT keeps the first @need
    // in the order the window functions hand them on, which is the walk's (an ORDER BY there would sort
    // the whole window before the first row). Nothing kept means nothing was left after the place: the
    // end of the list.
    private static string BuildFurtherWalk(bool ofType) => $"""
        WITH reached AS MATERIALIZED (
            SELECT id, updated_at, hit, n, last FROM (
                SELECT w.id, w.updated_at, w.hit, row_number() OVER (ORDER BY w.updated_at DESC, w.id) AS n,
                       lead(w.id) OVER (ORDER BY w.updated_at DESC, w.id) IS NULL AS last
                FROM (
                    SELECT e.id, e.updated_at, {Hit} AS hit
                    FROM entities e
                    WHERE {Listed(ofType, afterPlace: true)}
                    ORDER BY e.updated_at DESC, e.id
                    LIMIT {MaxWalk}) w) walked
            WHERE hit OR last
            LIMIT @need),
        tally AS (SELECT coalesce(max(n), 0) AS walked, count(*) FILTER (WHERE hit) AS hits, coalesce(bool_or(last), true) AND coalesce(max(n), 0) < {MaxWalk} AS ended FROM reached),
        tail AS (SELECT id, updated_at FROM reached ORDER BY n DESC LIMIT 1)
        SELECT {TruthStore.SummaryColumns}, tally.walked, tally.hits, tail.id, tail.updated_at, 0::bigint, {NoWordHits}, tally.ended
        FROM tally LEFT JOIN tail ON true
        LEFT JOIN (reached h JOIN entities e ON e.id = h.id LEFT JOIN entity_snapshots s ON s.entity_id = e.id) ON h.hit
        ORDER BY h.n
        """;

    /// <summary>
    /// The index's way: every match found by the trigram index (functions planned apart so that the
    /// index is always used), each with its place in the list as entity_search keeps it (migration
    /// 0017), and the page taken from them, after a place when given; only the page's rows are read from
    /// <c>entities</c> (whose own policy returns the person's rows only). <paramref name="counted"/>:
    /// every match is kept and counted for the total (neotoma_search_entities, 0017); else the page is
    /// taken where the matches are found and no total is given (neotoma_search_page, 0019).
    /// </summary>
    public static string Index(bool afterPlace, bool counted) =>
        counted ? (afterPlace ? IndexAfter : IndexFirst) : (afterPlace ? IndexPageAfter : IndexPageFirst);

    private static readonly string IndexFirst = Matches(IndexSelect, afterPlace: false);

    private static readonly string IndexAfter = Matches(IndexSelect, afterPlace: true);

    private static readonly string IndexPageFirst = IndexPage(afterPlace: false);

    private static readonly string IndexPageAfter = IndexPage(afterPlace: true);

    private static string IndexPage(bool afterPlace) => $"""
        SELECT {TruthStore.SummaryColumns}, NULL::bigint
        FROM neotoma_search_page('%' || @lookup || '%', '%' || @search || '%', @includeDeleted, @type,
                                 {(afterPlace ? "@afterAt, @afterId" : "NULL, NULL")}, @limit, @offset) page
        {TruthStore.PageEntities}
        """;

    private const string IndexSelect =
        "SELECT id, updated_at FROM neotoma_search_entities('%' || @lookup || '%', '%' || @search || '%', @includeDeleted, @type)";

    /// <summary>
    /// The words of a search text that the index could look up alone (three letters or digits in a
    /// row), when it has two or more: the first walk counts how many of the entities it reads hold
    /// each, and <see cref="RarestWord"/> chooses what the index looks up. At most
    /// <see cref="MaxWords"/>, the longest (each is a count over the walked entities).
    /// </summary>
    public static string[] Words(string normalizedSearch)
    {
        var words = normalizedSearch.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(IndexCanServe).Distinct().ToArray();
        return words.Length < 2 ? [] : words.Length <= MaxWords ? words : [.. words.OrderByDescending(word => word.Length).Take(MaxWords)];
    }

    /// <summary>The most words a first walk counts.</summary>
    public const int MaxWords = 8;

    /// <summary>
    /// What the index should look up instead of the whole text, or null for the whole text. The index
    /// intersects the entries of every trigram it is given, and a trigram in most of the person's names
    /// has most of their entities as entries: a text whose other words are common (the person's
    /// "inc" or a surname most contacts share) costs the reading of those long lists, about 3 ms each at
    /// a million entities (in psql on the bench's million, the lookup of `scale 500000` took 15 ms, of
    /// its word `500000` alone 3 ms). The first walk is a sample of the person's newest entities: the
    /// word it found in the fewest of them (the longest of those, whose trigrams narrow the most) is
    /// looked up alone, and every entity found is then matched against the whole text. A sample that
    /// tells the words apart by nothing (each in as many) leaves the whole text.
    /// </summary>
    public static string? RarestWord(IReadOnlyList<string> words, IReadOnlyList<long> walkedHolding)
    {
        if (words.Count < 2 || walkedHolding.Count != words.Count || walkedHolding.Min() == walkedHolding.Max())
        {
            return null;
        }

        var fewest = walkedHolding.Min();
        return words.Where((_, i) => walkedHolding[i] == fewest).MaxBy(word => word.Length);
    }

    /// <summary>
    /// For a text with no three letters or digits in a row, which gives the trigram index no trigram to
    /// look up: the person's own entities are read and matched, at a cost that grows with their count.
    /// </summary>
    public static string Scan(bool afterPlace) => afterPlace ? ScanAfter : ScanFirst;

    private static readonly string ScanFirst = Matches(ScanSelect, afterPlace: false);

    private static readonly string ScanAfter = Matches(ScanSelect, afterPlace: true);

    private const string ScanSelect = $"""
        SELECT e.id, e.updated_at FROM entities e
        WHERE {TruthStore.RetrieveListed} AND (@type::text IS NULL OR e.entity_type = @type) AND {Hit}
        """;

    private static string Matches(string select, bool afterPlace) => $"""
        WITH matches AS MATERIALIZED ({select})
        SELECT {TruthStore.SummaryColumns}, (SELECT count(*) FROM matches)
        FROM (SELECT e.id FROM matches e{(afterPlace ? $" WHERE {TruthStore.RetrieveAfter}" : "")}
              ORDER BY e.updated_at DESC, e.id LIMIT @limit OFFSET @offset) page
        {TruthStore.PageEntities}
        """;

    /// <summary>
    /// Whether the trigram index can narrow a search for this text: pg_trgm takes trigrams from runs
    /// of letters and digits, so a text without three in a row gives it none to look up.
    /// </summary>
    public static bool IndexCanServe(string normalizedSearch)
    {
        var run = 0;
        foreach (var rune in normalizedSearch.EnumerateRunes())
        {
            run = System.Text.Rune.IsLetterOrDigit(rune) ? run + 1 : 0;
            if (run >= 3)
            {
                return true;
            }
        }

        return false;
    }
}
