using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;
using Neotoma.Core.Truth;
using Neotoma.Tests.Infrastructure;
using Npgsql;

namespace Neotoma.Tests.Truth;

/// <summary>The truth layer through /mcp with the MCP C# SDK client and tokens from the real OAuth flow.</summary>
public sealed class TruthToolsTests(OAuthFixture fixture) : IClassFixture<OAuthFixture>
{
    private static async Task<JsonElement> CallAsync(McpClient client, string tool, object? arguments = null)
    {
        var result = await client.CallToolAsync(tool, ToArguments(arguments));
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        Assert.True(result.IsError != true, $"{tool} failed: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<string> CallFailingAsync(McpClient client, string tool, object? arguments = null)
    {
        var result = await client.CallToolAsync(tool, ToArguments(arguments));
        Assert.True(result.IsError, $"{tool} should have failed");
        return Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
    }

    private static Dictionary<string, object?>? ToArguments(object? arguments) =>
        arguments is null ? null : JsonSerializer.Deserialize<Dictionary<string, object?>>(JsonSerializer.Serialize(arguments));

    private static string Unique(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];

    [Fact]
    public async Task ToolsList_NamesEveryTool()
    {
        await using var client = await fixture.ConnectAsync("tools-lister");

        var names = (await client.ListToolsAsync()).Select(t => t.Name).Order().ToArray();

        Assert.Equal(new[]
        {
            "correct", "delete_entity", "get_authenticated_user", "list_entity_types", "list_observations", "list_relationships",
            "list_timeline_events", "merge_entities", "restore_entity", "retrieve_entities", "retrieve_entity_by_identifier",
            "retrieve_entity_snapshot", "retrieve_related_entities", "store",
        }, names);
    }

    [Fact]
    public async Task Store_ThenRetrieve_ByTypeSearchAliasAndIdentifier()
    {
        await using var client = await fixture.ConnectAsync("retriever");
        var stored = await CallAsync(client, "store", new
        {
            entities = new object[]
            {
                new { entity_type = "Person", name = "Ada Lovelace", aliases = new[] { "Countess of Lovelace" }, fields = new { born = "1815-12-10", role = "mathematician" } },
                new { entity_type = "project", name = "Analytical Engine notes", fields = new { status = "published" } },
            },
            relationships = new object[]
            {
                new { type = "PART_OF", source = new { entity_type = "person", name = "ada lovelace" }, target = new { entity_type = "project", name = "Analytical Engine notes" }, fields = new { role = "author" } },
            },
        });
        var adaId = stored.GetProperty("entities")[0].GetProperty("id").GetString()!;
        Assert.True(stored.GetProperty("entities")[0].GetProperty("created").GetBoolean());
        Assert.Single(stored.GetProperty("relationships").EnumerateArray());

        var people = await CallAsync(client, "retrieve_entities", new { entity_type = "person" });
        Assert.Equal(1, people.GetProperty("total").GetInt64());
        Assert.Equal("mathematician", people.GetProperty("entities")[0].GetProperty("fields").GetProperty("role").GetString());

        var byAlias = await CallAsync(client, "retrieve_entities", new { search = "countess" });
        Assert.Equal(adaId, byAlias.GetProperty("entities")[0].GetProperty("id").GetString());

        var byIdentifier = await CallAsync(client, "retrieve_entity_by_identifier", new { identifier = "ADA  LOVELACE" });
        Assert.Equal(adaId, byIdentifier.GetProperty("entities")[0].GetProperty("id").GetString());

        var again = await CallAsync(client, "store", new { entities = new object[] { new { entity_type = "person", name = "ada lovelace", fields = new { died = "1852-11-27" } } } });
        Assert.Equal(adaId, again.GetProperty("entities")[0].GetProperty("id").GetString());
        Assert.False(again.GetProperty("entities")[0].GetProperty("created").GetBoolean());

        var types = await CallAsync(client, "list_entity_types");
        var person = types.GetProperty("entity_types").EnumerateArray().Single(t => t.GetProperty("entity_type").GetString() == "person");
        Assert.Equal(1, person.GetProperty("entity_count").GetInt64());
        Assert.Equal("date", person.GetProperty("fields").GetProperty("born").GetString());

        var timeline = await CallAsync(client, "list_timeline_events", new { entity_type = "person" });
        Assert.Equal(new[] { "born", "died" }, timeline.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("field").GetString()));

        var related = await CallAsync(client, "retrieve_related_entities", new { entity_id = adaId, direction = "outgoing" });
        Assert.Equal("Analytical Engine notes", related.GetProperty("related")[0].GetProperty("entity").GetProperty("canonical_name").GetString());
        var relationships = await CallAsync(client, "list_relationships", new { entity_id = adaId });
        Assert.Equal("author", relationships.GetProperty("relationships")[0].GetProperty("fields").GetProperty("role").GetString());
    }

    [Fact]
    public async Task Snapshot_CorrectionOutranksLaterAiObservations_WithProvenance()
    {
        await using var client = await fixture.ConnectAsync("snapshotter");
        var first = await CallAsync(client, "store", new
        {
            entities = new object[] { new { entity_type = "company", name = "Initech", fields = new { employees = 120, city = "Austin" }, source = "structured", observed_at = "2026-01-01T00:00:00Z" } },
        });
        var id = first.GetProperty("entities")[0].GetProperty("id").GetString()!;
        var structuredObservation = first.GetProperty("entities")[0].GetProperty("observation_id").GetString();
        await CallAsync(client, "store", new
        {
            entities = new object[] { new { entity_type = "company", name = "Initech", fields = new { employees = 999, ceo = "Bill" }, source = "ai", observed_at = "2026-06-01T00:00:00Z" } },
        });

        var beforeCorrection = await CallAsync(client, "retrieve_entity_snapshot", new { entity_id = id });
        // Structured input outranks a later AI extraction; a field only the AI saw is still kept.
        Assert.Equal(120, beforeCorrection.GetProperty("entity").GetProperty("fields").GetProperty("employees").GetInt32());
        Assert.Equal(structuredObservation, beforeCorrection.GetProperty("provenance").GetProperty("employees").GetProperty("observation_id").GetString());
        Assert.Equal("Bill", beforeCorrection.GetProperty("entity").GetProperty("fields").GetProperty("ceo").GetString());

        var corrected = await CallAsync(client, "correct", new { entity_id = id, field = "employees", value = 130 });
        await CallAsync(client, "store", new
        {
            entities = new object[] { new { entity_type = "company", name = "Initech", fields = new { employees = 5 }, source = "ai", specificity = 100 } },
        });

        var after = await CallAsync(client, "retrieve_entity_snapshot", new { entity_id = id });
        Assert.Equal(130, after.GetProperty("entity").GetProperty("fields").GetProperty("employees").GetInt32());
        Assert.Equal("correction", after.GetProperty("provenance").GetProperty("employees").GetProperty("source").GetString());
        Assert.Equal(corrected.GetProperty("provenance").GetProperty("employees").GetProperty("observation_id").GetString(),
            after.GetProperty("provenance").GetProperty("employees").GetProperty("observation_id").GetString());
        var observations = await CallAsync(client, "list_observations", new { entity_id = id });
        Assert.Equal(4, observations.GetProperty("observations").GetArrayLength());
        Assert.Null(observations.GetProperty("next_offset").GetString());
    }

    [Fact]
    public async Task Store_TenConcurrentCallsWithOneIdempotencyKey_WriteOneSetOfRows()
    {
        await using var client = await fixture.ConnectAsync("idempotent");
        var key = Guid.NewGuid().ToString();
        var arguments = new
        {
            idempotency_key = key,
            entities = new object[] { new { entity_type = "invoice", name = "INV-1", fields = new { amount = 10 } } },
        };

        var results = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => CallAsync(client, "store", arguments)));

        Assert.Single(results.Select(r => r.GetProperty("entities")[0].GetProperty("observation_id").GetString()).Distinct());
        Assert.Equal(9, results.Count(r => r.GetProperty("replayed").GetBoolean()));
        var id = results[0].GetProperty("entities")[0].GetProperty("id").GetString()!;
        Assert.Equal(1L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM observations WHERE entity_id = @id", ("id", id)));
    }

    [Fact]
    public async Task TwoUsersWithIdenticalNames_EachSeeOnlyTheirOwn_InEveryTool()
    {
        await using var alice = await fixture.ConnectAsync("iso-alice");
        await using var bob = await fixture.ConnectAsync("iso-bob");
        var store = new
        {
            entities = new object[]
            {
                new { entity_type = "company", name = "Acme", fields = new { founded = "2001-02-03" } },
                new { entity_type = "person", name = "Wile E. Coyote" },
            },
            relationships = new object[] { new { type = "DEPENDS_ON", source = new { entity_type = "person", name = "Wile E. Coyote" }, target = new { entity_type = "company", name = "Acme" } } },
        };
        var aliceAcme = (await CallAsync(alice, "store", store)).GetProperty("entities")[0].GetProperty("id").GetString()!;
        var bobAcme = (await CallAsync(bob, "store", store)).GetProperty("entities")[0].GetProperty("id").GetString()!;

        Assert.NotEqual(aliceAcme, bobAcme);
        foreach (var (client, own, other) in new[] { (alice, aliceAcme, bobAcme), (bob, bobAcme, aliceAcme) })
        {
            var listed = await CallAsync(client, "retrieve_entities", new { entity_type = "company" });
            Assert.Equal(new[] { own }, listed.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
            Assert.Equal(new[] { own }, (await CallAsync(client, "retrieve_entity_by_identifier", new { identifier = "acme" })).GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
            Assert.Contains("No entity", await CallFailingAsync(client, "retrieve_entity_snapshot", new { entity_id = other }));
            Assert.Contains("No entity", await CallFailingAsync(client, "list_observations", new { entity_id = other }));
            Assert.Contains("No entity", await CallFailingAsync(client, "correct", new { entity_id = other, field = "x", value = 1 }));
            Assert.Contains("No entity", await CallFailingAsync(client, "delete_entity", new { entity_id = other }));
            Assert.Contains("No entity", await CallFailingAsync(client, "merge_entities", new { source_entity_id = other, target_entity_id = own }));
            Assert.Contains("No entity", await CallFailingAsync(client, "retrieve_related_entities", new { entity_id = other }));
            Assert.Empty((await CallAsync(client, "list_relationships", new { entity_id = other })).GetProperty("relationships").EnumerateArray());
            Assert.All((await CallAsync(client, "list_timeline_events")).GetProperty("events").EnumerateArray(), e => Assert.NotEqual(other, e.GetProperty("entity_id").GetString()));
            Assert.Equal(1, (await CallAsync(client, "list_entity_types")).GetProperty("entity_types").EnumerateArray().Single(t => t.GetProperty("entity_type").GetString() == "company").GetProperty("entity_count").GetInt64());
        }

        // Bob's attempt to delete Alice's entity changed nothing.
        Assert.Null(await fixture.Database.AdminScalarAsync<DateTime?>("SELECT deleted_at FROM entities WHERE id = @id", ("id", aliceAcme)));
    }

    /// <summary>
    /// Issue 26: next_cursor reads on from where a page ended; paging by cursor gives every entity and
    /// every event once, in the order paging by offset gives, a search's pages too; a cursor from
    /// elsewhere, or with an offset, is an argument error naming the field.
    /// </summary>
    [Fact]
    public async Task PagingByCursor_GivesWhatOffsetsGive_AndRefusesCursorsItDidNotGive()
    {
        await using var client = await fixture.ConnectAsync("cursor-pager");
        await CallAsync(client, "store", new
        {
            entities = Enumerable.Range(0, 5).Select(i => new { entity_type = "visit", name = $"Visit {i}", fields = new { on = $"2025-0{i + 1}-01" } }).ToArray(),
        });
        await CallAsync(client, "store", new { entities = new[] { new { entity_type = "visit", name = "Visit 2", fields = new { again = "2025-09-09" } } } });

        async Task<List<string>> AllAsync(string tool, string items, Func<JsonElement, string> key, object filter, bool byCursor)
        {
            var seen = new List<string>();
            string? cursor = null;
            var offset = 0;
            for (var page = 0; page < 10; page++)
            {
                var arguments = JsonSerializer.SerializeToNode(filter)!.AsObject();
                arguments["limit"] = 2;
                if (byCursor && cursor is not null)
                {
                    arguments["cursor"] = cursor;
                }
                else if (!byCursor)
                {
                    arguments["offset"] = offset;
                }

                var answer = await CallAsync(client, tool, arguments);
                seen.AddRange(answer.GetProperty(items).EnumerateArray().Select(key));
                cursor = answer.GetProperty("next_cursor").GetString();
                var next = answer.GetProperty("next_offset");
                if (byCursor ? cursor is null : next.ValueKind == JsonValueKind.Null)
                {
                    return seen;
                }

                offset = byCursor ? 0 : next.GetInt32();
            }

            throw new InvalidOperationException("paging did not end");
        }

        var byOffset = await AllAsync("retrieve_entities", "entities", e => e.GetProperty("id").GetString()!, new { entity_type = "visit" }, false);
        Assert.Equal(5, byOffset.Count);
        Assert.Equal(byOffset, await AllAsync("retrieve_entities", "entities", e => e.GetProperty("id").GetString()!, new { entity_type = "visit" }, true));
        var events = await AllAsync("list_timeline_events", "events", e => e.GetProperty("observation_id").GetString() + e.GetProperty("field").GetString(), new { entity_type = "visit" }, false);
        Assert.Equal(6, events.Count);
        Assert.Equal(events, await AllAsync("list_timeline_events", "events", e => e.GetProperty("observation_id").GetString() + e.GetProperty("field").GetString(), new { entity_type = "visit" }, true));

        var first = await CallAsync(client, "retrieve_entities", new { entity_type = "visit", limit = 2 });
        var cursor = first.GetProperty("next_cursor").GetString();
        Assert.Contains("cursor", await CallFailingAsync(client, "retrieve_entities", new { cursor, offset = 2 }));
        // A search pages by cursor as well (Search_PagesAreTheNewestMatches_HoweverCommonTheText).
        var visits = await AllAsync("retrieve_entities", "entities", e => e.GetProperty("id").GetString()!, new { search = "visit" }, true);
        Assert.Equal(byOffset, visits);
        Assert.Contains("cursor", await CallFailingAsync(client, "list_timeline_events", new { cursor }));
        Assert.Contains("cursor", await CallFailingAsync(client, "retrieve_entities", new { cursor = "not-a-cursor" }));
    }

    /// <summary>
    /// Issue 26: the totals and counts come from counts kept as entities change, and aliases from rows
    /// of their own; every path that changes an entity (store, delete, restore, merge) keeps them true.
    /// </summary>
    [Fact]
    public async Task KeptCountsAndAliases_FollowStoreDeleteRestoreAndMerge()
    {
        await using var client = await fixture.ConnectAsync("kept-counts");
        async Task<(long Total, long TypeCount, long WithDeleted)> CountsAsync()
        {
            var total = (await CallAsync(client, "retrieve_entities", new { entity_type = "pet" })).GetProperty("total").GetInt64();
            var withDeleted = (await CallAsync(client, "retrieve_entities", new { entity_type = "pet", include_deleted = true })).GetProperty("total").GetInt64();
            var type = (await CallAsync(client, "list_entity_types")).GetProperty("entity_types").EnumerateArray()
                .Single(t => t.GetProperty("entity_type").GetString() == "pet").GetProperty("entity_count").GetInt64();
            return (total, type, withDeleted);
        }

        var stored = await CallAsync(client, "store", new
        {
            entities = new object[]
            {
                new { entity_type = "pet", name = "Rex", aliases = new[] { "The Dog" } },
                new { entity_type = "pet", name = "Rexy" },
                new { entity_type = "pet", name = "Tom" },
            },
        });
        var ids = stored.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToArray();
        Assert.Equal((3, 3, 3), await CountsAsync());
        await CallAsync(client, "store", new { entities = new[] { new { entity_type = "pet", name = "Rex" } } });
        Assert.Equal((3, 3, 3), await CountsAsync());

        await CallAsync(client, "delete_entity", new { entity_id = ids[2] });
        Assert.Equal((2, 2, 3), await CountsAsync());
        await CallAsync(client, "restore_entity", new { entity_id = ids[2] });
        Assert.Equal((3, 3, 3), await CountsAsync());

        await CallAsync(client, "merge_entities", new { source_entity_id = ids[1], target_entity_id = ids[0] });
        Assert.Equal((2, 2, 2), await CountsAsync());
        foreach (var alias in new[] { "the dog", "REXY" })
        {
            var found = (await CallAsync(client, "retrieve_entity_by_identifier", new { identifier = alias })).GetProperty("entities");
            Assert.Equal(new[] { ids[0] }, found.EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        }
    }

    /// <summary>
    /// Statements run often enough are prepared once per pooled connection (Max Auto Prepare) and
    /// their plans reused; the user must still come from each transaction's own setting.
    /// </summary>
    [Fact]
    public async Task PreparedStatementsOnPooledConnections_StillSeeOnlyTheCallersRows()
    {
        await using var carol = await fixture.ConnectAsync("prep-carol");
        await using var dave = await fixture.ConnectAsync("prep-dave");
        await CallAsync(carol, "store", new { entities = new[] { new { entity_type = "note", name = "Carol's note" } } });
        await CallAsync(dave, "store", new { entities = new[] { new { entity_type = "note", name = "Dave's note" } } });

        var seen = new List<(string User, string Name)>();
        for (var round = 0; round < 12; round++)
        {
            foreach (var (user, client) in new[] { ("carol", carol), ("dave", dave) })
            {
                var listed = await CallAsync(client, "retrieve_entities", new { entity_type = "note" });
                seen.AddRange(listed.GetProperty("entities").EnumerateArray().Select(e => (user, e.GetProperty("canonical_name").GetString()!)));
            }
        }

        Assert.Equal(24, seen.Count);
        Assert.All(seen, entry => Assert.Equal(entry.User == "carol" ? "Carol's note" : "Dave's note", entry.Name));
        var dataSource = fixture.Server.Services.GetRequiredService<NpgsqlDataSource>();
        Assert.Equal(64, new NpgsqlConnectionStringBuilder(dataSource.ConnectionString).MaxAutoPrepare);
    }

    /// <summary>
    /// Issue 26: a search finds names and aliases, treats % and _ as text, follows new aliases, merges
    /// and deletes, and never returns nor counts the entities of another person who stored the very same
    /// names, whichever way it finds them: by walking the person's newest entities (here all of them),
    /// or, with more than the first walk's worth of newer entities ahead of the matches, through the
    /// trigram index (whose table every person's search may read) for a text with three letters or
    /// digits in a row, and by a scan of the person's own entities for a shorter one.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Search_ByWalkByIndexAndByScan_FindsOnlyThePersonsOwn(bool behindNewerEntities)
    {
        var erinLogin = Unique("search-erin");
        await using var erin = await fixture.ConnectAsync(erinLogin);
        await using var frank = await fixture.ConnectAsync(Unique("search-frank"));
        var names = new object[]
        {
            new { entity_type = "person", name = "Grace Hopper", aliases = new[] { "Amazing Grace" } },
            new { entity_type = "note", name = "Hopper's notebook" },
            new { entity_type = "note", name = "50% off (sale_2024)" },
            new { entity_type = "note", name = "sale02024 and 50 off" },
            new { entity_type = "person", name = "Zoë Ångström", aliases = new[] { "Чайковская" } },
        };
        await CallAsync(frank, "store", new { entities = names });
        var stored = await CallAsync(erin, "store", new { entities = names });
        string Id(int i) => stored.GetProperty("entities")[i].GetProperty("id").GetString()!;
        if (behindNewerEntities)
        {
            await StoreNewerAsync(erinLogin, EntitySearch.FirstWalk + 100, "filler");
        }

        async Task<string[]> InOrderAsync(string search, bool includeDeleted = false, string? type = null)
        {
            var page = await CallAsync(erin, "retrieve_entities", new { search, include_deleted = includeDeleted, entity_type = type });
            var ids = page.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToArray();
            Assert.Equal(ids.Length, page.GetProperty("total").GetInt64());
            return ids;
        }

        async Task<string[]> FoundAsync(string search, bool includeDeleted = false, string? type = null) =>
            (await InOrderAsync(search, includeDeleted, type)).Order().ToArray();

        // Pages of one: which match comes first is then decided in choosing each page, not in ordering it.
        async Task<string[]> OneByOneAsync(string search) =>
        [
            .. await Task.WhenAll(Enumerable.Range(0, 2).Select(async offset =>
                (await CallAsync(erin, "retrieve_entities", new { search, limit = 1, offset })).GetProperty("entities")[0].GetProperty("id").GetString()!)),
        ];

        Assert.True(EntitySearch.IndexCanServe("hopper"));
        Assert.Equal(new[] { Id(0), Id(1) }.Order(), await FoundAsync("HOPPER"));
        Assert.Equal([Id(0)], await FoundAsync("amazing"));
        Assert.False(EntitySearch.IndexCanServe("ce h"));
        Assert.Equal([Id(0)], await FoundAsync("ce h"));
        Assert.Equal([Id(2)], await FoundAsync("50%"));
        Assert.True(EntitySearch.IndexCanServe("sale_2024"));
        Assert.Equal([Id(2)], await FoundAsync("sale_2024"));
        Assert.Equal(new[] { Id(2), Id(3) }.Order(), await FoundAsync("2024"));
        // Letters beyond ASCII, in either case, through the index.
        Assert.True(EntitySearch.IndexCanServe("чайк"));
        // The database classifies characters as Unicode (as Azure's does), so the index has trigrams to look up.
        Assert.NotEmpty((await fixture.Database.AdminScalarAsync<string[]>("SELECT show_trgm('чайк')"))!);
        Assert.Equal([Id(4)], await FoundAsync("ÅNGSTRÖM"));
        Assert.Equal([Id(4)], await FoundAsync("zoë"));
        Assert.Equal([Id(4)], await FoundAsync("ЧАЙК"));
        // A name and an alias are matched apart: the words at their seam are not one text.
        Assert.Empty(await FoundAsync("hopper amazing"));

        Assert.Equal([Id(0)], await FoundAsync("hopper", type: "person"));
        Assert.Equal([Id(1)], await FoundAsync("hopper", type: "note"));

        // A page is newest first, and an entity written again moves to the front (here with a field
        // only: its name and aliases, the search table's text, unchanged).
        await CallAsync(erin, "store", new { entities = new object[] { new { entity_type = "person", name = "grace hopper", aliases = new[] { "Grandma COBOL" } } } });
        Assert.Equal([Id(0)], await FoundAsync("cobol"));
        Assert.Equal([Id(0), Id(1)], await InOrderAsync("hopper"));
        Assert.Equal([Id(0), Id(1)], await OneByOneAsync("hopper"));
        await CallAsync(erin, "store", new { entities = new object[] { new { entity_type = "note", name = "Hopper's notebook", fields = new { colour = "red" } } } });
        Assert.Equal([Id(1), Id(0)], await InOrderAsync("hopper"));
        Assert.Equal([Id(1), Id(0)], await OneByOneAsync("hopper"));
        await CallAsync(erin, "merge_entities", new { source_entity_id = Id(1), target_entity_id = Id(0) });
        Assert.Equal([Id(0)], await FoundAsync("notebook"));
        await CallAsync(erin, "delete_entity", new { entity_id = Id(0) });
        Assert.Empty(await FoundAsync("hopper"));
        Assert.Equal([Id(0)], await FoundAsync("hopper", includeDeleted: true));
        await CallAsync(erin, "restore_entity", new { entity_id = Id(0) });
        Assert.Equal([Id(0)], await FoundAsync("hopper"));

        // Frank's four are still his own, untouched by Erin's changes.
        var franks = await CallAsync(frank, "retrieve_entities", new { search = "hopper" });
        Assert.Equal(2, franks.GetProperty("total").GetInt64());
        // What the index's way reads instead of each match's entity (0017) agrees with every entity after
        // the writes, merges, deletes and restores above.
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("""
            SELECT count(*) FROM entities e FULL JOIN entity_search s ON s.entity_id = e.id
            WHERE (e.user_id = @user OR s.user_id = @user)
              AND (s.haystack, s.entity_type, s.updated_at, s.merged, s.deleted) IS DISTINCT FROM
                  (neotoma_search_text(e.normalized_name, e.normalized_aliases), e.entity_type, e.updated_at, e.merged_to IS NOT NULL, e.deleted_at IS NOT NULL)
            """, ("user", erinLogin)));
    }

    /// <summary>
    /// Entities named "{name} N" (N from 1), written as the store would leave them (the search table,
    /// the counts and the aliases kept by the entities' triggers), each a millisecond newer than the
    /// last and than everything stored before: a thousand through the store tool would take seconds.
    /// </summary>
    private Task StoreNewerAsync(string userId, int count, string name, Func<int, string>? alias = null) =>
        fixture.Database.AdminExecuteAsync("""
            INSERT INTO entities (id, user_id, entity_type, canonical_name, normalized_name, aliases, normalized_aliases, created_at, updated_at)
            SELECT 'ent_' || md5(@user || @name || g), @user, 'note', initcap(@name) || ' ' || g, @name || ' ' || g,
                   ARRAY[@aliases[g]]::text[], ARRAY[@aliases[g]]::text[], now(), now() + interval '10 seconds' + g * interval '1 millisecond'
            FROM generate_series(1, @count) g
            """, ("user", userId), ("name", name), ("count", count),
            ("aliases", Enumerable.Range(1, count).Select(g => alias?.Invoke(g) ?? $"{name[0]}{g}").ToArray()));

    /// <summary>
    /// Issue 26: a search's page is the newest matches however common or rare the text, read page after
    /// page by cursor or by offset: a text in every entity and in every tenth (the first walk of the
    /// newest entities fills the page, and no total is counted), in every 20th (too few in that walk:
    /// a second, longer walk), in every 150th (too rare to walk for: the index, which counts), in three
    /// of the oldest, and in none; and pages of 100 of a text in every 16th, which the walks would take
    /// longer to fill than the index to find and which they find too common to count. The same names
    /// stored by another person never come back.
    /// </summary>
    [Fact]
    public async Task Search_PagesAreTheNewestMatches_HoweverCommonTheText()
    {
        var login = Unique("search-pages");
        await using var client = await fixture.ConnectAsync(login);
        var other = Unique("search-other");
        await using (await fixture.ConnectAsync(other))
        {
        }

        const int count = 20_000;
        // Entity g (named "item g") is the g-th oldest; its alias says which texts it holds.
        string Alias(int g) => (g % 10 == 0 ? "tenth " : "") + (g % 16 == 0 ? "sixteenth " : "") + (g % 20 == 0 ? "twentieth " : "") + (g % 150 == 0 ? "rare150 " : "")
            + (g <= 3 ? "oldie " : "") + $"x{g}";
        await StoreNewerAsync(login, count, "item", Alias);
        await StoreNewerAsync(other, 3000, "item", Alias);
        string[] Expected(Func<int, bool> matches) => Enumerable.Range(1, count).Reverse().Where(matches).Select(g => $"item {g}").ToArray();
        // The first walk finds 12 of every 20th: a page of 20 needs a few hundred rows more, fewer than the index would find.
        Assert.Equal(250, EntitySearch.FirstWalk);
        Assert.True(EntitySearch.WalksOn(walked: EntitySearch.FirstWalk, hits: 12, need: 21, listed: count));
        var cases = new (string Search, string[] Names, bool Counted)[]
        {
            ("item", Expected(_ => true), false),
            ("tenth", Expected(g => g % 10 == 0), false),
            ("twentieth", Expected(g => g % 20 == 0), false),
            ("rare150", Expected(g => g % 150 == 0), true),
            ("oldie", Expected(g => g <= 3), true),
            // "item" is in every name, so the index looks up "1234" alone (in the aliases of 11234 and
            // others too) and keeps what holds the whole text.
            ("item 1234", Expected(g => $"{g}".StartsWith("1234", StringComparison.Ordinal)), true),
            ("nothing like it", [], true),
        };
        const int pagesRead = 12;
        foreach (var (search, names, counted) in cases)
        {
            var byCursor = new List<string>();
            string? cursor = null;
            var pages = 0;
            do
            {
                var page = await CallAsync(client, "retrieve_entities", cursor is null ? new { search, limit = 20 } : (object)new { search, limit = 20, cursor });
                if (pages == 0)
                {
                    var total = page.GetProperty("total");
                    Assert.Equal(counted ? JsonValueKind.Number : JsonValueKind.Null, total.ValueKind);
                    if (counted)
                    {
                        Assert.Equal(names.Length, total.GetInt64());
                    }
                }

                byCursor.AddRange(Names(page));
                cursor = page.GetProperty("next_cursor").GetString();
                pages++;
            }
            while (cursor is not null && pages < pagesRead);
            Assert.Equal(names.Take(20 * pagesRead), byCursor);
            Assert.Equal(names.Length > 20 * pagesRead, cursor is not null);

            var byOffset = new List<string>();
            for (var offset = 0; offset < Math.Min(names.Length, 60); offset += 20)
            {
                var page = await CallAsync(client, "retrieve_entities", new { search, limit = 20, offset });
                byOffset.AddRange(Names(page));
                var next = page.GetProperty("next_offset");
                Assert.Equal(offset + 20 < names.Length ? offset + 20 : (int?)null, next.ValueKind == JsonValueKind.Null ? null : next.GetInt32());
            }

            Assert.Equal(names.Take(60), byOffset);
        }

        // Pages of 100 of a text in every 16th, one of them deleted: the first walk finds 15 of the 101 a
        // page needs, so walking on for the rest (about 2,150 rows) reads more than the index finds (some
        // 1,200 matches by that share), and that many are not counted: no total, every page by cursor and
        // by offset (but the last by offset, whose total is the offset and its own).
        Assert.False(EntitySearch.WalksOn(walked: EntitySearch.FirstWalk, hits: 15, need: 101, listed: count - 1));
        Assert.False(EntitySearch.CountsMatches(walked: EntitySearch.FirstWalk, hits: 15, listed: count - 1));
        var deleted = (await CallAsync(client, "retrieve_entity_by_identifier", new { identifier = "item 19984" })).GetProperty("entities")[0].GetProperty("id").GetString();
        await CallAsync(client, "delete_entity", new { entity_id = deleted });
        var sixteenths = Expected(g => g % 16 == 0 && g != 19984);
        async Task<List<string>> AllByCursorAsync(bool includeDeleted)
        {
            var read = new List<string>();
            string? after = null;
            do
            {
                var page = await CallAsync(client, "retrieve_entities", after is null
                    ? new { search = "sixteenth", limit = 100, include_deleted = includeDeleted }
                    : (object)new { search = "sixteenth", limit = 100, include_deleted = includeDeleted, cursor = after });
                Assert.Equal(JsonValueKind.Null, page.GetProperty("total").ValueKind);
                read.AddRange(Names(page));
                after = page.GetProperty("next_cursor").GetString();
            }
            while (after is not null);
            return read;
        }

        Assert.Equal(sixteenths, await AllByCursorAsync(includeDeleted: false));
        Assert.Equal(Expected(g => g % 16 == 0).Order(), (await AllByCursorAsync(includeDeleted: true)).Order());
        var atOffset = await CallAsync(client, "retrieve_entities", new { search = "sixteenth", limit = 100, offset = 1200 });
        Assert.Equal(sixteenths.Skip(1200), Names(atOffset));
        Assert.Equal(JsonValueKind.Null, atOffset.GetProperty("next_offset").ValueKind);
        Assert.Equal(1249, atOffset.GetProperty("total").GetInt64());
        // Of one type, and of a type the person has none of.
        Assert.Equal(sixteenths.Take(100), Names(await CallAsync(client, "retrieve_entities", new { search = "sixteenth", limit = 100, entity_type = "note" })));
        Assert.Empty(Names(await CallAsync(client, "retrieve_entities", new { search = "sixteenth", limit = 100, entity_type = "person" })));

        static IEnumerable<string> Names(JsonElement page) =>
            page.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("canonical_name").GetString()!.ToLowerInvariant());
    }

    /// <summary>Issue 26: after a first walk, walk on only where that reads fewer rows than the index would find matches.</summary>
    [Fact]
    public void Search_AfterAFirstWalk_WalksOnOnlyWhereThatReadsLessThanTheIndexWould()
    {
        // No match among the newest thousand: the text is rare, the index finds it.
        Assert.False(EntitySearch.WalksOn(walked: 1000, hits: 0, need: 21, listed: 1_000_000));
        // One in a hundred of a million: about 1,650 more rows against some 10,000 matches.
        Assert.True(EntitySearch.WalksOn(walked: 1000, hits: 10, need: 21, listed: 1_000_000));
        // The same share of 3,000 entities: some 30 matches cost the index less than 1,650 rows.
        Assert.False(EntitySearch.WalksOn(walked: 1000, hits: 10, need: 21, listed: 3000));
        // One in a thousand: 30,000 rows to walk is past the longest walk (4,000).
        Assert.False(EntitySearch.WalksOn(walked: 1000, hits: 1, need: 21, listed: 1_000_000));
    }

    /// <summary>
    /// Issue 26: the index counts every match for a total only where the walks suggest at most a
    /// thousand in the whole list; a text they never found is taken for rare and counted.
    /// </summary>
    [Fact]
    public void Search_ByIndex_CountsTheMatchesOnlyWhereTheWalksSuggestFew()
    {
        Assert.Equal(1000, EntitySearch.CountedMatches);
        // The bench's "scale 99": one of the newest 250 of a million suggests 4,000.
        Assert.False(EntitySearch.CountsMatches(walked: 250, hits: 1, listed: 1_000_000));
        // The same at 100,000 suggests 400.
        Assert.True(EntitySearch.CountsMatches(walked: 250, hits: 1, listed: 100_000));
        // Walked on: 17 in 4,250 of 20,000 suggests 80, though the first 250 held all 17.
        Assert.True(EntitySearch.CountsMatches(walked: 4250, hits: 17, listed: 20_000));
        Assert.True(EntitySearch.CountsMatches(walked: 250, hits: 0, listed: 1_000_000));
        Assert.True(EntitySearch.CountsMatches(walked: 250, hits: 4, listed: 62_500));
        Assert.False(EntitySearch.CountsMatches(walked: 250, hits: 4, listed: 62_501));
    }

    /// <summary>
    /// Issue 26: the index looks up the word of a search that the first walk found in the fewest of the
    /// person's newest entities, when the walk tells the words apart; else the whole text.
    /// </summary>
    [Fact]
    public void Search_ByIndex_LooksUpTheWordTheFirstWalkFoundLeast()
    {
        Assert.Equal(["item", "1234"], EntitySearch.Words("item 1234"));
        Assert.Equal(["acme", "inc"], EntitySearch.Words("acme inc acme"));
        // One word, or one the index could look up (three letters or digits in a row): the whole text.
        Assert.Empty(EntitySearch.Words("item"));
        Assert.Empty(EntitySearch.Words("item 12"));

        Assert.Equal("1234", EntitySearch.RarestWord(["item", "1234"], [250, 0]));
        Assert.Equal("smithson", EntitySearch.RarestWord(["acme", "inc", "smithson"], [3, 250, 3]));
        Assert.Null(EntitySearch.RarestWord(["john", "smith"], [0, 0]));
        Assert.Null(EntitySearch.RarestWord([], []));
        // At most eight, the longest (of those as long as each other, the first).
        Assert.Equal(8, EntitySearch.MaxWords);
        Assert.Equal(["eight", "eleven", "five", "four", "nine", "one", "seven", "three"],
            EntitySearch.Words("a one two three four five six seven eight nine ten eleven").Order());
    }

    /// <summary>
    /// Issue 26: the statements that match entities one by one (every walk, the scan) match the text of
    /// neotoma_search_text with its body inline (0018), not through a function call per entity read
    /// (about 4 µs each, most of a walk's cost, while the function was declared IMMUTABLE over a STABLE
    /// body). Read from the plans PostgreSQL makes for them, with the parameters a search sends.
    /// </summary>
    [Fact]
    public async Task Search_WalksAndScan_MatchEachEntitysTextInline()
    {
        var statements = new List<string>();
        foreach (var ofType in new[] { false, true })
        {
            foreach (var afterPlace in new[] { false, true })
            {
                statements.Add(EntitySearch.Walk(ofType, afterPlace, countWords: false));
                statements.Add(EntitySearch.Walk(ofType, afterPlace, countWords: true));
            }

            statements.Add(EntitySearch.FurtherWalk(ofType));
            statements.Add(EntitySearch.WalkToTheEnd(ofType));
        }

        statements.Add(EntitySearch.Scan(afterPlace: false));
        statements.Add(EntitySearch.Scan(afterPlace: true));
        foreach (var sql in statements)
        {
            var plan = await fixture.Database.AdminScalarAsync<string>("EXPLAIN (VERBOSE, FORMAT JSON) " + sql,
                ("includeDeleted", false), ("type", "note"), ("search", "hopper"), ("need", 21),
                ("words", new[] { "grace", "hopper" }), ("afterAt", DateTimeOffset.UtcNow), ("afterId", "ent_x"), ("limit", 21), ("offset", 0));
            Assert.Contains("array_to_string", plan);
            Assert.DoesNotContain("neotoma_search_text", plan);
        }
    }

    /// <summary>
    /// Issue 26: a list the two walks can hold, searched from its start, is read to its end when the
    /// first walk falls short, so its total is exact even when the page fills before the end: 260
    /// entities, 20 matches among the newest 250 and two among the 10 oldest.
    /// </summary>
    [Fact]
    public async Task Search_AListTheWalksCanHold_IsReadToItsEnd_ForAnExactTotal()
    {
        var login = Unique("search-short-list");
        await using var client = await fixture.ConnectAsync(login);
        await StoreNewerAsync(login, 260, "item", g => g % 12 == 0 && g <= 240 || g is 8 or 3 ? $"dozen x{g}" : $"x{g}");
        // A first walk that finds 20 of 21 walks on (about 19 more rows, fewer than the 21 the index would find).
        Assert.True(EntitySearch.WalksOn(walked: EntitySearch.FirstWalk, hits: 20, need: 21, listed: 260));

        var first = await CallAsync(client, "retrieve_entities", new { search = "dozen", limit = 20 });
        Assert.Equal(22, first.GetProperty("total").GetInt64());
        Assert.Equal(Enumerable.Range(1, 20).Select(i => $"Item {12 * (21 - i)}"),
            first.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("canonical_name").GetString()));
        Assert.Equal(20, first.GetProperty("next_offset").GetInt32());
        var second = await CallAsync(client, "retrieve_entities", new { search = "dozen", limit = 20, offset = 20 });
        Assert.Equal(["Item 8", "Item 3"], second.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("canonical_name").GetString()));
    }

    /// <summary>
    /// Issue 26: the walk after the first reads on only until the page's last match, wherever that lies
    /// within its window (up to 4,000 entities), and says how far it read; PostgreSQL stops reading the
    /// person's entities there (the plan's own count of rows read).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Search_WalkingOn_StopsReadingAtThePagesLastMatch(bool ofType)
    {
        var login = Unique("search-walk-on");
        await using (await fixture.ConnectAsync(login))
        {
        }

        await StoreNewerAsync(login, 5000, "item", g => g % 20 == 0 ? $"twentieth x{g}" : $"x{g}");
        // Statistics for the new rows, as autovacuum would gather them: without them the planner takes
        // the person's notes for few and reads them all to sort them (in the list's order or not, a walk
        // reads what its plan reads).
        await fixture.Database.AdminExecuteAsync("ANALYZE entities");
        // Where the first walk ended: the 250th newest (entity 4751).
        var person = await AsPersonAsync(login);
        await using var connection = person.Connection;
        await using var transaction = person.Transaction;

        DateTimeOffset tailAt;
        string tailId;
        await using (var tail = new NpgsqlCommand("SELECT updated_at, id FROM entities ORDER BY updated_at DESC, id OFFSET 249 LIMIT 1", connection, transaction))
        await using (var reader = await tail.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            (tailAt, tailId) = (reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1));
        }

        NpgsqlCommand Walk(string prefix)
        {
            var command = new NpgsqlCommand(prefix + EntitySearch.FurtherWalk(ofType), connection, transaction);
            command.Parameters.AddWithValue("includeDeleted", false);
            command.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = ofType ? "note" : DBNull.Value });
            command.Parameters.AddWithValue("search", "twentieth");
            command.Parameters.AddWithValue("afterAt", tailAt);
            command.Parameters.AddWithValue("afterId", tailId);
            command.Parameters.AddWithValue("need", 9);
            return command;
        }

        // The next nine matches are entities 4740, 4720, ... 4580: the 171st entity after the tail is the last.
        var names = new List<string>();
        await using (var walk = Walk(""))
        await using (var reader = await walk.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                names.Add(reader.GetString(2));
                Assert.Equal(171L, reader.GetInt64(8));
                Assert.Equal(9L, reader.GetInt64(9));
                Assert.False(reader.GetBoolean(14));
            }
        }

        Assert.Equal(Enumerable.Range(0, 9).Select(i => $"Item {4740 - 20 * i}"), names);
        await using var explain = Walk("EXPLAIN (ANALYZE, FORMAT JSON) ");
        using var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
        var scan = Assert.Single(PlanNodes(plan),
            node => node.TryGetProperty("Index Name", out var index) && index.GetString() is "entities_recent_idx" or "entities_type_recent_idx");
        // The 171 entities and the one after (the window's last is known one entity ahead), not the window's 4,000.
        Assert.Equal(172, scan.GetProperty("Actual Rows").GetInt64());

        // On from the list's last entity there is nothing to read: one row without an entity, and the end of the list reached.
        await using (var last = new NpgsqlCommand("SELECT updated_at, id FROM entities ORDER BY updated_at, id DESC LIMIT 1", connection, transaction))
        await using (var reader = await last.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            (tailAt, tailId) = (reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1));
        }

        await using (var walk = Walk(""))
        await using (var reader = await walk.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            Assert.True(reader.IsDBNull(0));
            Assert.Equal(0L, reader.GetInt64(8));
            Assert.True(reader.GetBoolean(14));
            Assert.False(await reader.ReadAsync());
        }
    }

    /// <summary>
    /// Issue 26: neotoma_search_page (0019), the index's way for a search whose matches are not counted,
    /// returns the person's own listed matches in the list's order: of the type asked for, deleted ones
    /// only when asked, never merged ones, and after a place among entities written at one moment (ties
    /// on updated_at, ordered by id). Compared with the same list read from `entities`; another person
    /// with the same names stored never appears.
    /// </summary>
    [Fact]
    public async Task SearchPage_ReturnsThePersonsListedMatches_InTheListsOrder()
    {
        var login = Unique("search-page");
        var other = Unique("search-page-other");
        await using (await fixture.ConnectAsync(login))
        await using (await fixture.ConnectAsync(other))
        {
        }

        await StoreNewerAsync(login, 300, "item");
        await StoreNewerAsync(other, 300, "item");
        // Every third a task, every seventh deleted, every eleventh merged into item 2, items 101-109 written when item 100 was.
        await fixture.Database.AdminExecuteAsync("""
            UPDATE entities SET entity_type = 'task' WHERE user_id = @user AND split_part(normalized_name, ' ', 2)::int % 3 = 0;
            UPDATE entities SET deleted_at = now() WHERE user_id = @user AND split_part(normalized_name, ' ', 2)::int % 7 = 0;
            UPDATE entities SET merged_to = (SELECT id FROM entities WHERE user_id = @user AND normalized_name = 'item 2')
            WHERE user_id = @user AND split_part(normalized_name, ' ', 2)::int % 11 = 0;
            UPDATE entities SET updated_at = (SELECT updated_at FROM entities WHERE user_id = @user AND normalized_name = 'item 100')
            WHERE user_id = @user AND split_part(normalized_name, ' ', 2)::int BETWEEN 101 AND 109;
            """, ("user", login));

        var person = await AsPersonAsync(login);
        await using var connection = person.Connection;
        await using var transaction = person.Transaction;

        async Task<List<(string Id, DateTimeOffset At)>> ReadAsync(string sql, bool includeDeleted, string? type, (DateTimeOffset At, string Id)? after)
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            command.Parameters.AddWithValue("deleted", includeDeleted);
            command.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)type ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("afterAt", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = after is { } a ? a.At : DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter("afterId", NpgsqlTypes.NpgsqlDbType.Text) { Value = after is { } b ? b.Id : DBNull.Value });
            var rows = new List<(string, DateTimeOffset)>();
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetString(0), reader.GetFieldValue<DateTimeOffset>(1)));
            }

            return rows;
        }

        const string Page = "SELECT id, updated_at FROM neotoma_search_page('%item 1%', '%item 1%', @deleted, @type, @afterAt, @afterId, 1000, 0)";
        const string Listed = """
            SELECT id, updated_at FROM entities
            WHERE merged_to IS NULL AND (@deleted OR deleted_at IS NULL) AND (@type::text IS NULL OR entity_type = @type)
              AND normalized_name LIKE '%item 1%'
              AND (@afterAt::timestamptz IS NULL OR updated_at < @afterAt OR (updated_at = @afterAt AND id > @afterId))
            ORDER BY updated_at DESC, id
            """;
        foreach (var (includeDeleted, type) in new[] { (false, (string?)null), (true, null), (false, "task"), (true, "note") })
        {
            var all = await ReadAsync(Listed, includeDeleted, type, null);
            Assert.NotEmpty(all);
            Assert.Equal(all, await ReadAsync(Page, includeDeleted, type, null));
            // After the second of those written at one moment (ordered by id among them), and after the last.
            var moment = all.First(row => all.Count(other => other.At == row.At) > 1).At;
            var place = all.FindIndex(row => row.At == moment) + 1;
            Assert.Equal(all.Skip(place + 1), await ReadAsync(Page, includeDeleted, type, (all[place].At, all[place].Id)));
            Assert.Empty(await ReadAsync(Page, includeDeleted, type, (all[^1].At, all[^1].Id)));
        }
    }

    /// <summary>A connection of the app's role in a transaction acting for a person (row-level security applied), as the app's statements run.</summary>
    private async Task<(NpgsqlConnection Connection, NpgsqlTransaction Transaction)> AsPersonAsync(string login)
    {
        var connection = new NpgsqlConnection(fixture.Database.AppConnectionString);
        await connection.OpenAsync();
        var transaction = await connection.BeginTransactionAsync();
        await using var set = new NpgsqlCommand("SELECT set_config('neotoma.user_id', @user, true)", connection, transaction);
        set.Parameters.AddWithValue("user", login);
        await set.ExecuteNonQueryAsync();
        return (connection, transaction);
    }

    /// <summary>Every node of a plan that EXPLAIN (FORMAT JSON) wrote, outermost first.</summary>
    private static IEnumerable<JsonElement> PlanNodes(JsonDocument plan)
    {
        static IEnumerable<JsonElement> Nodes(JsonElement node) =>
            new[] { node }.Concat(node.TryGetProperty("Plans", out var children) ? children.EnumerateArray().SelectMany(Nodes) : []);
        return Nodes(plan.RootElement[0].GetProperty("Plan"));
    }

    /// <summary>
    /// Issue 26: a page of retrieve_entities at an offset is the one paging reaches, and reads the
    /// snapshots of its own entities only: the rows the offset skips are read along the index and not
    /// joined (the plan's own count of snapshot lookups), with a type and without.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task RetrieveAtAnOffset_ReadsTheSnapshotsOfThePageOnly(bool ofType)
    {
        var login = Unique("offset-pages");
        await using var client = await fixture.ConnectAsync(login);
        await StoreNewerAsync(login, 3000, "item");
        await fixture.Database.AdminExecuteAsync("ANALYZE entities");
        await fixture.Database.AdminExecuteAsync("""
            INSERT INTO entity_snapshots (entity_id, user_id, fields, provenance, observation_count, updated_at)
            SELECT id, user_id, jsonb_build_object('n', canonical_name), '{}', 1, updated_at FROM entities WHERE user_id = @user
            """, ("user", login));

        // Item 3000 is the newest: 2,000 entities on, item 1000.
        var page = await CallAsync(client, "retrieve_entities", ofType ? new { limit = 20, offset = 2000, entity_type = "note" } : (object)new { limit = 20, offset = 2000 });
        var entities = page.GetProperty("entities").EnumerateArray().ToList();
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"Item {1000 - i}"), entities.Select(e => e.GetProperty("canonical_name").GetString()));
        Assert.All(entities, e => Assert.Equal(e.GetProperty("canonical_name").GetString(), e.GetProperty("fields").GetProperty("n").GetString()));
        Assert.Equal(2020, page.GetProperty("next_offset").GetInt32());
        Assert.Equal(3000, page.GetProperty("total").GetInt64());
        // Past the end no row carries the total: unknown, not 0.
        var past = await CallAsync(client, "retrieve_entities", ofType ? new { limit = 20, offset = 3000, entity_type = "note" } : (object)new { limit = 20, offset = 3000 });
        Assert.Empty(past.GetProperty("entities").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, past.GetProperty("total").ValueKind);

        var person = await AsPersonAsync(login);
        await using var connection = person.Connection;
        await using var transaction = person.Transaction;

        await using var explain = new NpgsqlCommand("EXPLAIN (ANALYZE, FORMAT JSON) " + TruthStore.EntityPages.For(ofType, atOffset: true), connection, transaction);
        explain.Parameters.AddWithValue("includeDeleted", false);
        explain.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = ofType ? "note" : DBNull.Value });
        explain.Parameters.AddWithValue("limit", 21);
        explain.Parameters.AddWithValue("offset", 2000);
        using var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!);
        var snapshots = Assert.Single(PlanNodes(plan), node => node.TryGetProperty("Relation Name", out var table) && table.GetString() == "entity_snapshots");
        // One lookup for each of the page's 21 rows (the 21st tells that a page follows), not the 2,021 read.
        Assert.Equal("Index Scan", snapshots.GetProperty("Node Type").GetString());
        Assert.Equal(21, snapshots.GetProperty("Actual Loops").GetInt64());
    }

    /// <summary>
    /// Issue 26: the word the index looks up is a LIKE pattern of its own, so it is escaped as the whole
    /// text is: a rare word with backslashes (a path) beside a word in every name finds its entity.
    /// </summary>
    [Fact]
    public async Task Search_ByIndex_LooksUpARareWordWithBackslashesAsText()
    {
        var login = Unique("search-path");
        await using var client = await fixture.ConnectAsync(login);
        await StoreNewerAsync(login, EntitySearch.FirstWalk + 50, "note", g => g == 7 ? @"c:\dir\x note" : $"n{g} note");

        var page = await CallAsync(client, "retrieve_entities", new { search = @"C:\Dir\X note" });

        Assert.Equal(["note 7"], page.GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("canonical_name").GetString()!.ToLowerInvariant()));
        Assert.Equal(1, page.GetProperty("total").GetInt64());
    }

    /// <summary>No name or alias is longer than 500 characters, so a longer search is refused, naming the field.</summary>
    [Fact]
    public async Task Search_LongerThanAnyName_IsRefused()
    {
        await using var client = await fixture.ConnectAsync(Unique("search-long"));

        Assert.Contains("search", await CallFailingAsync(client, "retrieve_entities", new { search = new string('a', 501) }));
        // A hundred words: the first walk counts the longest eight.
        Assert.Empty((await CallAsync(client, "retrieve_entities", new { search = string.Join(' ', Enumerable.Range(0, 100).Select(i => $"w{i:D2}")) }))
            .GetProperty("entities").EnumerateArray());
    }

    [Fact]
    public async Task RowLevelSecurity_BlocksCrossUserReads_EvenWithoutAWhereClause()
    {
        await using var alice = await fixture.ConnectAsync("rls-alice");
        await CallAsync(alice, "store", new { entities = new object[] { new { entity_type = "note", name = "secret plans", fields = new { text = "only for alice" } } } });

        await using var connection = new NpgsqlConnection(fixture.Database.AppConnectionString);
        await connection.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await using (var set = new NpgsqlCommand("SELECT set_config('neotoma.user_id', 'rls-mallory', true)", connection, transaction))
        {
            await set.ExecuteNonQueryAsync();
        }

        foreach (var table in new[] { "entities", "observations", "entity_snapshots", "timeline_events", "entity_types", "relationships" })
        {
            await using var count = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection, transaction);
            Assert.Equal(0L, await count.ExecuteScalarAsync());
        }

        // The search table is the one whose rows any person's search may read (docs/storage.md); its
        // rows are still written only by their owner: Mallory changes none of Alice's and plants none.
        await using (var change = new NpgsqlCommand("UPDATE entity_search SET haystack = 'planted' WHERE user_id = 'rls-alice'", connection, transaction))
        {
            Assert.Equal(0, await change.ExecuteNonQueryAsync());
        }

        await using (var delete = new NpgsqlCommand("DELETE FROM entity_search WHERE user_id = 'rls-alice'", connection, transaction))
        {
            Assert.Equal(0, await delete.ExecuteNonQueryAsync());
        }

        var aliceEntity = await fixture.Database.AdminScalarAsync<string>("SELECT id FROM entities WHERE user_id = 'rls-alice' LIMIT 1");
        await using (var plant = new NpgsqlCommand($"INSERT INTO entity_search (entity_id, user_id, haystack, entity_type, updated_at, merged, deleted) VALUES ('{aliceEntity}x', 'rls-alice', 'planted', 'note', now(), false, false)", connection, transaction))
        {
            Assert.Equal("42501", (await Assert.ThrowsAsync<PostgresException>(() => plant.ExecuteNonQueryAsync())).SqlState);
        }

        Assert.True(await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM entities WHERE user_id = 'rls-alice'") > 0);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM entity_search WHERE haystack = 'planted'"));
        // And it stays the one: no other policy lets every row be read.
        Assert.Equal("entity_search.search_reads", await fixture.Database.AdminScalarAsync<string>(
            "SELECT string_agg(tablename || '.' || policyname, ', ') FROM pg_policies WHERE schemaname = 'public' AND qual = 'true'"));
    }

    [Fact]
    public async Task MergeDeleteRestore_AndHops()
    {
        await using var client = await fixture.ConnectAsync("grapher");
        var stored = await CallAsync(client, "store", new
        {
            entities = new object[]
            {
                new { entity_type = "task", name = "A" }, new { entity_type = "task", name = "B" }, new { entity_type = "task", name = "C" },
                new { entity_type = "task", name = "D" }, new { entity_type = "task", name = "B duplicate", fields = new { note = "dup" } },
            },
            relationships = new object[]
            {
                new { type = "DEPENDS_ON", source = new { entity_type = "task", name = "A" }, target = new { entity_type = "task", name = "B" } },
                new { type = "DEPENDS_ON", source = new { entity_type = "task", name = "B" }, target = new { entity_type = "task", name = "C" } },
                new { type = "DEPENDS_ON", source = new { entity_type = "task", name = "C" }, target = new { entity_type = "task", name = "D" } },
            },
        });
        string Id(int i) => stored.GetProperty("entities")[i].GetProperty("id").GetString()!;

        var twoHops = await CallAsync(client, "retrieve_related_entities", new { entity_id = Id(0), direction = "outgoing", hops = 2 });
        Assert.Equal(new[] { "B", "C" }, twoHops.GetProperty("related").EnumerateArray().Select(r => r.GetProperty("entity").GetProperty("canonical_name").GetString()));
        Assert.Contains("hops", await CallFailingAsync(client, "retrieve_related_entities", new { entity_id = Id(0), hops = 4 }));

        var merged = await CallAsync(client, "merge_entities", new { source_entity_id = Id(4), target_entity_id = Id(1) });
        Assert.Equal("dup", merged.GetProperty("entity").GetProperty("fields").GetProperty("note").GetString());
        Assert.Contains("B duplicate", merged.GetProperty("entity").GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal(Id(1), (await CallAsync(client, "retrieve_entity_snapshot", new { entity_id = Id(4) })).GetProperty("entity").GetProperty("id").GetString());

        await CallAsync(client, "delete_entity", new { entity_id = Id(3) });
        Assert.DoesNotContain(Id(3), (await CallAsync(client, "retrieve_entities", new { entity_type = "task" })).GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        await CallAsync(client, "restore_entity", new { entity_id = Id(3) });
        Assert.Contains(Id(3), (await CallAsync(client, "retrieve_entities", new { entity_type = "task" })).GetProperty("entities").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
    }

    [Theory]
    [InlineData("store", """{"entities":[{"name":"no type"}]}""", "entities[0].entity_type")]
    [InlineData("store", """{"entities":[{"entity_type":"x","name":"y","fields":[1,2]}]}""", "entities[0].fields")]
    [InlineData("store", """{"entities":[{"entity_type":"x","name":"y","source":"rumour"}]}""", "entities[0].source")]
    [InlineData("store", """{"relationships":[{"type":"LIKES","source":{"entity_id":"a"},"target":{"entity_id":"b"}}]}""", "relationships[0].type")]
    [InlineData("store", """{"relationships":[{"type":"PART_OF","source":{"entity_type":"x","name":"nobody"},"target":{"entity_type":"x","name":"none"}}]}""", "relationships[0].source")]
    [InlineData("retrieve_entities", """{"limit":1000}""", "limit")]
    [InlineData("list_timeline_events", """{"from":"2026-02-01T00:00:00Z","to":"2026-01-01T00:00:00Z"}""", "from")]
    [InlineData("list_relationships", """{"type":"LOVES"}""", "type")]
    [InlineData("list_observations", """{"entity_id":"ent_x","limit":0}""", "limit")]
    [InlineData("retrieve_entity_by_identifier", """{"identifier":"  "}""", "identifier")]
    [InlineData("retrieve_related_entities", """{"entity_id":"ent_x","direction":"sideways"}""", "direction")]
    [InlineData("retrieve_related_entities", """{"entity_id":"ent_x","types":["HATES"]}""", "types")]
    [InlineData("correct", """{"entity_id":"ent_x","field":"","value":1}""", "field")]
    [InlineData("merge_entities", """{"source_entity_id":"ent_missing","target_entity_id":"ent_missing"}""", "No entity")]
    [InlineData("delete_entity", """{"entity_id":"ent_missing"}""", "No entity")]
    [InlineData("restore_entity", """{"entity_id":"ent_missing"}""", "No entity")]
    [InlineData("retrieve_entity_snapshot", """{"entity_id":"ent_missing"}""", "No entity")]
    [InlineData("store", """{"idempotency_key":"","entities":[{"entity_type":"x","name":"y"}]}""", "idempotency_key")]
    [InlineData("store", """{}""", "entities")]
    [InlineData("retrieve_entities", """{"limit":"ten"}""", "limit: expected integer")]
    [InlineData("retrieve_entities", """{"include_deleted":"yes"}""", "include_deleted: expected boolean")]
    [InlineData("retrieve_entity_snapshot", """{"entity_id":42}""", "entity_id: expected string")]
    [InlineData("retrieve_entity_snapshot", """{}""", "entity_id: is required")]
    [InlineData("store", """{"entities":"everyone"}""", "entities: expected array")]
    [InlineData("store", """{"entities":[{"entity_type":"x","name":7}]}""", "entities[0].name: expected string")]
    [InlineData("list_observations", """{"entity_id":"ent_x","offset":1.5}""", "offset: expected integer")]
    public async Task BadArguments_AreToolErrorsNamingTheField(string tool, string arguments, string field)
    {
        await using var client = await fixture.ConnectAsync("bad-args");

        var message = await CallFailingAsync(client, tool, JsonSerializer.Deserialize<JsonElement>(arguments));

        Assert.Contains(field, message);
    }

    [Fact]
    public async Task ToolsList_InputSchemasNameOneTypeEach_AndEveryToolDeclaresItsOutput()
    {
        await using var client = await fixture.ConnectAsync("schemas");

        var tools = await client.ListToolsAsync();

        Assert.Equal(14, tools.Count);
        var unions = new List<string>();
        foreach (var tool in tools)
        {
            CollectUnions(tool.ProtocolTool.InputSchema, tool.Name, unions);
            Assert.True(tool.ProtocolTool.OutputSchema is { ValueKind: JsonValueKind.Object }, $"{tool.Name} declares no output schema");
        }

        Assert.True(unions.Count == 0, "union types: " + string.Join(", ", unions));
    }

    /// <summary>Gemini CLI 0.61 refuses a whole tools/list over one property whose schema is the boolean <c>true</c>.</summary>
    [Fact]
    public async Task ToolsList_EveryPropertySchemaIsAnObject_InInputsAndOutputs()
    {
        await using var client = await fixture.ConnectAsync("schema-objects");

        var tools = await client.ListToolsAsync();

        var booleans = new List<string>();
        foreach (var tool in tools)
        {
            CollectBooleanSchemas(tool.ProtocolTool.InputSchema, tool.Name + ".input", booleans);
            CollectBooleanSchemas(tool.ProtocolTool.OutputSchema!.Value, tool.Name + ".output", booleans);
        }

        Assert.True(booleans.Count == 0, "boolean schemas: " + string.Join(", ", booleans));
    }

    private static void CollectBooleanSchemas(JsonElement schema, string path, List<string> found)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var member in schema.EnumerateObject())
        {
            var children = member.Name == "properties" && member.Value.ValueKind == JsonValueKind.Object
                ? member.Value.EnumerateObject().Select(p => (Path: $"{path}.{p.Name}", Value: p.Value)).ToArray()
                : member.Name is "items" or "additionalProperties" ? [(Path: $"{path}.{member.Name}", member.Value)] : [];
            foreach (var (childPath, child) in children)
            {
                if (child.ValueKind == JsonValueKind.True)
                {
                    found.Add(childPath);
                }

                CollectBooleanSchemas(child, childPath, found);
            }
        }
    }

    [Fact]
    public async Task ToolResults_CarryStructuredContent_AndTheSameJsonAsText()
    {
        await using var client = await fixture.ConnectAsync("structured");
        await CallAsync(client, "store", new { entities = new[] { new { entity_type = "person", name = "Structured Sam" } } });

        foreach (var (tool, arguments) in new (string, object?)[] { ("get_authenticated_user", null), ("retrieve_entities", new { limit = 5 }), ("list_entity_types", null) })
        {
            var result = await client.CallToolAsync(tool, ToArguments(arguments));

            Assert.NotEqual(true, result.IsError);
            Assert.True(result.StructuredContent is { ValueKind: JsonValueKind.Object or JsonValueKind.Array }, $"{tool} returned no structured content");
            // The spec asks for the same result as text, for clients that read only content.
            var text = JsonDocument.Parse(Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text).RootElement;
            var structured = result.StructuredContent!.Value;
            var unwrapped = structured.ValueKind == JsonValueKind.Object && text.ValueKind != JsonValueKind.Object && structured.TryGetProperty("result", out var inner)
                ? inner : structured;
            Assert.True(JsonElement.DeepEquals(text, unwrapped), $"{tool}: text {text} differs from structured content {structured}");
        }

        var optionalAsNull = await client.CallToolAsync("retrieve_entities", new Dictionary<string, object?> { ["entity_type"] = null, ["limit"] = 5 });
        Assert.NotEqual(true, optionalAsNull.IsError);
    }

    [Fact]
    public async Task StoredFields_OfEveryJsonKind_ComeBackAsStored_InEveryReadingTool()
    {
        await using var client = await fixture.ConnectAsync("field-kinds");
        // Fields as a person's imports bring them: text in other scripts, quotes, backslashes, line
        // breaks, markup, numbers past a long, fractions, booleans, nested objects with nulls, arrays.
        var fields = JsonDocument.Parse("""
            {
              "name_local": "Zoë 日本語 🙂", "quote": "she said \"hi\" \\ back", "lines": "one\ntwo\tthree",
              "markup": "</script><b>&amp;</b>", "big": 123456789012345678901234567890, "fraction": -0.125,
              "scientific": 6.02e23, "flag": false, "nested": { "none": null, "list": [1, "two", [3], { "four": 4 }] },
              "empty_object": {}, "empty_list": []
            }
            """).RootElement;
        var stored = await CallAsync(client, "store", new
        {
            entities = new object[] { new { entity_type = "note", name = "Every kind", fields }, new { entity_type = "note", name = "Other note" } },
            relationships = new object[] { new { type = "REFERS_TO", source = new { entity_type = "note", name = "Every kind" }, target = new { entity_type = "note", name = "Other note" }, fields } },
        });
        var id = stored.GetProperty("entities")[0].GetProperty("id").GetString()!;

        var answers = new (string Tool, object Arguments, Func<JsonElement, JsonElement> Fields)[]
        {
            ("retrieve_entities", new { entity_type = "note", search = "every kind" }, answer => answer.GetProperty("entities")[0].GetProperty("fields")),
            ("retrieve_entity_snapshot", new { entity_id = id }, answer => answer.GetProperty("entity").GetProperty("fields")),
            ("retrieve_entity_by_identifier", new { identifier = "Every kind" }, answer => answer.GetProperty("entities")[0].GetProperty("fields")),
            ("list_observations", new { entity_id = id }, answer => answer.GetProperty("observations")[0].GetProperty("fields")),
            ("list_relationships", new { entity_id = id }, answer => answer.GetProperty("relationships")[0].GetProperty("fields")),
        };
        var other = await CallAsync(client, "retrieve_related_entities", new { entity_id = id });
        Assert.Equal("{}", other.GetProperty("related")[0].GetProperty("entity").GetProperty("fields").GetRawText());
        foreach (var (tool, arguments, fieldsOf) in answers)
        {
            var result = await client.CallToolAsync(tool, ToArguments(arguments));
            var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
            Assert.True(result.IsError != true, $"{tool} failed: {text}");
            var fromText = fieldsOf(JsonDocument.Parse(text).RootElement);
            var fromStructured = fieldsOf(result.StructuredContent!.Value);
            Assert.True(JsonElement.DeepEquals(fields, fromStructured), $"{tool}: structured fields {fromStructured} differ from the stored {fields}");
            Assert.True(JsonElement.DeepEquals(fields, fromText), $"{tool}: text fields {fromText} differ from the stored {fields}");
            Assert.Equal("Zoë 日本語 🙂", fromStructured.GetProperty("name_local").GetString());
            Assert.Equal("123456789012345678901234567890", fromStructured.GetProperty("big").GetRawText());
            // The fields in the text copy are written as the serializer writes every answer (compact, its
            // own escaping), not with the spacing and raw characters of PostgreSQL's jsonb text.
            Assert.Equal(JsonSerializer.Serialize(fromText), fromText.GetRawText());
        }
    }

    [Fact]
    public async Task ToolsList_EveryStoredFieldsMember_IsDeclaredAnObject()
    {
        await using var client = await fixture.ConnectAsync("fields-schema");

        var declared = (await client.ListToolsAsync())
            .SelectMany(tool => Nodes(tool.ProtocolTool.OutputSchema!.Value, tool.Name))
            .Where(node => node.Path.EndsWith(".properties.fields", StringComparison.Ordinal))
            .Select(node => node.Schema.GetRawText())
            .ToList();

        // Ten tools answer with an entity's, an observation's or a relationship's fields; list_entity_types'
        // fields are a map of field names to JSON type names.
        Assert.Equal(10, declared.Count(schema => schema == """{"type":"object"}"""));
        Assert.All(declared, schema => Assert.StartsWith("""{"type":"object""", schema));
    }

    private static void CollectUnions(JsonElement schema, string path, List<string> unions) =>
        unions.AddRange(Nodes(schema, path)
            .Where(node => node.Schema.ValueKind == JsonValueKind.Object && node.Schema.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.Array)
            .Select(node => node.Path));

    /// <summary>Every value inside a schema (members of objects, items of arrays) with its path, the schema first.</summary>
    private static IEnumerable<(string Path, JsonElement Schema)> Nodes(JsonElement schema, string path)
    {
        yield return (path, schema);
        var children = schema.ValueKind switch
        {
            JsonValueKind.Object => schema.EnumerateObject().Select(member => ($"{path}.{member.Name}", member.Value)),
            JsonValueKind.Array => schema.EnumerateArray().Select(item => (path + "[]", item)),
            _ => [],
        };
        foreach (var (childPath, child) in children)
        {
            foreach (var node in Nodes(child, childPath))
            {
                yield return node;
            }
        }
    }

    [Fact]
    public async Task FieldValues_NestedDeeperThanAnswersCanCarry_AreRefused_AndWhatIsKeptStaysReadable()
    {
        await using var client = await fixture.ConnectAsync("nesting");
        var stored = await CallAsync(client, "store", new { entities = new object[] { new { entity_type = "probe", name = "Deep" }, new { entity_type = "probe", name = "Near" } } });
        var id = stored.GetProperty("entities")[0].GetProperty("id").GetString()!;
        JsonElement Nested(int levels) => JsonDocument.Parse(new string('[', levels) + "1" + new string(']', levels)).RootElement;
        var tooDeep = Nested(TruthStore.MaxFieldNesting + 1);

        // Accepted, a value of 60 levels made every later answer carrying it deeper than 64 levels:
        // the .NET client (this test's) could not read the person's pages any more.
        Assert.Contains("value", await CallFailingAsync(client, "correct", new { entity_id = id, field = "deep", value = tooDeep }));
        Assert.Contains("entities[0].fields.deep", await CallFailingAsync(client, "store",
            new { entities = new object[] { new { entity_type = "probe", name = "Deeper", fields = new { ok = 1, deep = tooDeep } } } }));
        Assert.Contains("relationships[0].fields.deep", await CallFailingAsync(client, "store", new
        {
            relationships = new object[] { new { type = "REFERS_TO", source = new { entity_id = id }, target = new { entity_type = "probe", name = "Near" }, fields = new { deep = tooDeep } } },
        }));
        Assert.Equal(2, (await CallAsync(client, "retrieve_entities", new { entity_type = "probe" })).GetProperty("total").GetInt64());
        Assert.Equal(0, (await CallAsync(client, "list_relationships", new { entity_id = id })).GetProperty("relationships").GetArrayLength());

        // As deep as allowed: stored, and every answer that carries it can be read.
        var deepest = Nested(TruthStore.MaxFieldNesting);
        await CallAsync(client, "correct", new { entity_id = id, field = "deep", value = deepest });
        await CallAsync(client, "store", new
        {
            relationships = new object[] { new { type = "REFERS_TO", source = new { entity_id = id }, target = new { entity_type = "probe", name = "Near" }, fields = new { deep = deepest } } },
        });
        var page = await CallAsync(client, "retrieve_entities", new { entity_type = "probe", search = "deep" });
        Assert.True(JsonElement.DeepEquals(deepest, page.GetProperty("entities")[0].GetProperty("fields").GetProperty("deep")));
        var related = await CallAsync(client, "retrieve_related_entities", new { entity_id = Assert.Single(page.GetProperty("entities").EnumerateArray()).GetProperty("id").GetString() });
        Assert.Equal("Near", related.GetProperty("related")[0].GetProperty("entity").GetProperty("canonical_name").GetString());
        var relationships = await CallAsync(client, "list_relationships", new { entity_id = id });
        Assert.True(JsonElement.DeepEquals(deepest, relationships.GetProperty("relationships")[0].GetProperty("fields").GetProperty("deep")));
    }

    [Fact]
    public async Task Store_OverTheEntityLimit_WritesNothing()
    {
        await using var client = await fixture.ConnectAsync("too-many");
        var entities = Enumerable.Range(0, 101).Select(i => new { entity_type = "item", name = $"item {i}" }).ToArray();

        var message = await CallFailingAsync(client, "store", new { entities });

        Assert.Contains("at most 100", message);
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM entities WHERE user_id = 'too-many'"));
    }

    /// <summary>A stream without a length makes HttpClient send the body chunked: the server must measure it.</summary>
    private sealed class UnknownLengthContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    /// <summary>A store of one entity whose field holds <paramref name="data"/>, posted raw with a declared length or chunked.</summary>
    private async Task<HttpResponseMessage> StoreBlobAsync(string accessToken, string data, bool chunked)
    {
        var body = JsonSerializer.Serialize(new
        {
            jsonrpc = "2.0", id = 1, method = "tools/call",
            @params = new { name = "store", arguments = new { entities = new[] { new { entity_type = "blob", name = "sized", fields = new { data } } } } },
        });
        HttpContent content = chunked ? new UnknownLengthContent(Encoding.UTF8.GetBytes(body)) : new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp") { Content = content };
        request.Headers.Authorization = new("Bearer", accessToken);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        return await fixture.Server.Client.SendAsync(request);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OversizedBody_Is413AndWritesNothing(bool chunked)
    {
        var (tokens, _) = await fixture.SignInAsync("big-body-" + chunked);

        var response = await StoreBlobAsync(tokens.AccessToken, new string('x', 2 * 1024 * 1024), chunked);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("nothing was done", await response.Content.ReadAsStringAsync());
        Assert.Equal(0L, await fixture.Database.AdminScalarAsync<long>("SELECT count(*) FROM entities WHERE user_id = @u", ("u", "big-body-" + chunked)));
    }

    /// <summary>
    /// /mcp reads a body whole before the call takes a pooled connection: one array for a small declared
    /// length, a stream that grows as the bytes arrive for a larger or chunked one. Every size under the
    /// limit arrives whole, whichever way it was sent.
    /// </summary>
    [Theory]
    [InlineData(300, false)]
    [InlineData(300, true)]
    [InlineData(16 * 1024 + 1, false)]
    [InlineData(16 * 1024 + 1, true)]
    [InlineData(400_000, false)]
    [InlineData(400_000, true)]
    public async Task BodiesUnderTheLimit_ArriveWhole_HoweverTheyAreSent(int bytes, bool chunked)
    {
        var user = $"body-{bytes}-{chunked}";
        var (tokens, _) = await fixture.SignInAsync(user);

        var response = await StoreBlobAsync(tokens.AccessToken, new string('y', bytes), chunked);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("\"isError\":true", await response.Content.ReadAsStringAsync());
        Assert.Equal(bytes, await fixture.Database.AdminScalarAsync<int>(
            "SELECT length(s.fields->>'data') FROM entity_snapshots s JOIN entities e ON e.id = s.entity_id WHERE e.user_id = @u", ("u", user)));
    }

    [Theory]
    [InlineData("https://evil.example", HttpStatusCode.Forbidden)]
    [InlineData("http://localhost.evil.example:8080", HttpStatusCode.Forbidden)]
    [InlineData(null, HttpStatusCode.OK)]
    [InlineData("self", HttpStatusCode.OK)]
    public async Task Origin_OutsideTheAllowList_Is403(string? origin, HttpStatusCode expected)
    {
        var (tokens, _) = await fixture.SignInAsync("origin-check");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/mcp")
        {
            Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"o","version":"1"}}}""",
                Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", tokens.AccessToken);
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (origin is not null)
        {
            request.Headers.Add("Origin", origin == "self" ? fixture.Issuer : origin);
        }

        var response = await fixture.Server.Client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }
}
