// Every Neotoma tool through an official TypeScript MCP client used as hosts use it: tools/list first
// (the client then validates each answer's structuredContent against the tool's outputSchema and
// throws on a mismatch), then every tool with realistic data: people, companies and projects with
// string, number, boolean, date, array and nested-object fields, an entity without fields,
// relationships, an alias lookup, empty results, paging, corrections, a merge, a delete and a restore,
// and searches the trigram index serves (behind 300 newer entities).
// Any validation error or isError answer ends the script with exit code 1. Run by the test suite
// (Neotoma.Tests/Mcp/ToolContractTests.cs).
//
// usage: ACCESS_TOKEN=... [MCP_CLIENT=v2] node contract.mjs <mcp-url>
//   MCP_CLIENT=v2 uses the v2 client package (@modelcontextprotocol/client) instead of @modelcontextprotocol/sdk 1.x.
const v2 = process.env.MCP_CLIENT === 'v2';
const { Client, StreamableHTTPClientTransport } = v2
  ? await import('@modelcontextprotocol/client')
  : {
    Client: (await import('@modelcontextprotocol/sdk/client/index.js')).Client,
    StreamableHTTPClientTransport: (await import('@modelcontextprotocol/sdk/client/streamableHttp.js')).StreamableHTTPClientTransport,
  };

const mcpUrl = new URL(process.argv[2]);
const client = new Client({ name: `neotoma-contract-${v2 ? 'v2' : 'v1'}`, version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(mcpUrl, {
  requestInit: { headers: { Authorization: `Bearer ${process.env.ACCESS_TOKEN}` } },
}));

const { tools } = await client.listTools();
const called = new Map();

async function call(name, args = {}) {
  let result;
  try {
    result = await client.callTool({ name, arguments: args });
  } catch (error) {
    throw new Error(`${name}(${JSON.stringify(args)}) was refused by the client: ${error.message}`);
  }
  if (result.isError) throw new Error(`${name}(${JSON.stringify(args)}) answered isError: ${JSON.stringify(result.content)}`);
  if (!result.structuredContent) throw new Error(`${name} answered without structuredContent`);
  if (!(result.content?.length > 0) || result.content[0].type !== 'text') throw new Error(`${name} answered without text content`);
  called.set(name, (called.get(name) ?? 0) + 1);
  return result.structuredContent;
}

function expect(condition, what) {
  if (!condition) throw new Error(`expected ${what}`);
}

const me = await call('get_authenticated_user');
expect(typeof me.user_id === 'string', 'a user id');

// A person with nothing stored yet: every list is empty.
expect((await call('retrieve_entities')).entities.length === 0, 'no entities at first');
expect((await call('list_entity_types')).entity_types.length === 0, 'no entity types at first');
expect((await call('list_timeline_events')).events.length === 0, 'no timeline at first');
expect((await call('retrieve_entity_by_identifier', { identifier: 'nobody' })).entities.length === 0, 'no match for nobody');
expect((await call('list_relationships')).relationships.length === 0, 'no relationships at first');

const stored = await call('store', {
  entities: [
    {
      entity_type: 'person', name: 'Ada Lovelace', aliases: ['Countess of Lovelace', 'Augusta Ada King'],
      fields: {
        born: '1815-12-10', age_at_death: 36, mathematician: true, languages: ['English', 'French'],
        address: { city: 'London', street: { name: "St James's Square", number: 12 } },
      },
    },
    { entity_type: 'person', name: 'Charles Babbage', fields: { born: '1791-12-26', fellow_of_royal_society: true, height_m: 1.78 } },
    {
      entity_type: 'company', name: 'Analytical Engines Ltd',
      fields: { founded: '1834-01-01', employees: 12, public: false, products: ['Difference Engine', 'Analytical Engine'], hq: { city: 'London' } },
    },
    { entity_type: 'project', name: 'Note G', fields: { status: 'published', pages: 65, published_on: '1843-09-01' }, source: 'ai', specificity: 40 },
    // No fields: the entity exists, no observation is recorded.
    { entity_type: 'project', name: 'Difference Engine No. 2' },
  ],
  relationships: [
    { type: 'PART_OF', source: { entity_type: 'person', name: 'Ada Lovelace' }, target: { entity_type: 'project', name: 'Note G' }, fields: { role: 'author' } },
    { type: 'REFERS_TO', source: { entity_type: 'project', name: 'Note G' }, target: { entity_type: 'company', name: 'Analytical Engines Ltd' } },
    { type: 'DEPENDS_ON', source: { entity_type: 'company', name: 'Analytical Engines Ltd' }, target: { entity_type: 'person', name: 'Charles Babbage' } },
  ],
  idempotency_key: `contract-${me.user_id}`,
});
expect(stored.entities.length === 5 && stored.relationships.length === 3, 'five entities and three relationships stored');
expect(stored.entities[4].observation_id === null, 'no observation for an entity stored without fields');
const [ada, babbage, company, noteG, engine2] = stored.entities.map((e) => e.id);
expect((await call('store', { entities: [{ entity_type: 'person', name: 'Ada Lovelace' }], idempotency_key: `contract-${me.user_id}` })).replayed, 'a replay');

// Paging: two pages of two and a last page of one.
const first = await call('retrieve_entities', { limit: 2 });
expect(first.total === 5 && first.next_offset === 2, 'a first page pointing at the second');
const last = await call('retrieve_entities', { limit: 2, offset: 4 });
expect(last.entities.length === 1 && last.next_offset === null, 'a last page with no next');
const past = await call('retrieve_entities', { limit: 2, offset: 50 });
expect(past.entities.length === 0 && past.total === null && past.next_offset === null, 'past the end: no entities, total unknown');
// The same list by cursor: the first page's next_cursor leads on, without repeats, to a last page with none.
const second = await call('retrieve_entities', { limit: 2, cursor: first.next_cursor });
expect(second.entities.length === 2 && !second.entities.some((e) => first.entities.some((f) => f.id === e.id)), 'a cursor page after the first');
const third = await call('retrieve_entities', { limit: 2, cursor: second.next_cursor });
expect(third.entities.length === 1 && third.next_cursor === null, 'a last cursor page with no next');
expect((await call('retrieve_entities', { entity_type: 'company' })).entities[0].fields.hq.city === 'London', 'nested fields back');
expect((await call('retrieve_entities', { search: 'countess' })).entities[0].id === ada, 'found by alias');
expect((await call('retrieve_entities', { search: 'no such thing' })).entities.length === 0, 'an empty search');
// Two letters give the trigram index nothing to look up: the person's entities are read instead, same answer shape.
expect((await call('retrieve_entities', { search: 'ss' })).entities.some((e) => e.id === ada), 'a short search (no trigram) found by alias');
// A search pages by cursor too; a page after a cursor has no total (null: not counted).
const engines = await call('retrieve_entities', { search: 'engine', limit: 1 });
expect(engines.total === 2 && engines.entities.length === 1 && engines.next_cursor !== null, 'a counted search with a cursor to its next page');
const moreEngines = await call('retrieve_entities', { search: 'engine', limit: 1, cursor: engines.next_cursor });
expect(moreEngines.total === null && moreEngines.entities.length === 1 && moreEngines.entities[0].id !== engines.entities[0].id
  && moreEngines.next_cursor === null, 'a search page after a cursor, its total not counted');
expect((await call('retrieve_entity_by_identifier', { identifier: 'Augusta Ada King' })).entities[0].id === ada, 'found by alias');
expect((await call('retrieve_entity_by_identifier', { identifier: company, entity_type: 'company' })).entities[0].id === company, 'found by id');

const snapshot = await call('retrieve_entity_snapshot', { entity_id: ada });
expect(snapshot.entity.fields.languages.length === 2 && snapshot.provenance.born.source === 'structured', 'a snapshot with provenance');
expect((await call('retrieve_entity_snapshot', { entity_id: engine2 })).observation_count === 0, 'a snapshot of an entity without fields');
const types = await call('list_entity_types');
expect(types.entity_types.find((t) => t.entity_type === 'person').fields.born === 'date', 'field kinds per type');

// Corrections: a number, an object, and null (which removes the field).
await call('correct', { entity_id: babbage, field: 'height_m', value: 1.8 });
await call('correct', { entity_id: babbage, field: 'address', value: { city: 'London', street: 'Dorset Street' } });
const corrected = await call('correct', { entity_id: babbage, field: 'fellow_of_royal_society', value: null });
expect(!('fellow_of_royal_society' in corrected.entity.fields), 'a field removed by a null correction');

const observations = await call('list_observations', { entity_id: babbage, limit: 2 });
expect(observations.observations.length === 2 && observations.next_offset === 2, 'paged observations');
expect((await call('list_observations', { entity_id: engine2 })).observations.length === 0, 'no observations');

const relationships = await call('list_relationships', { limit: 2 });
expect(relationships.relationships.length === 2 && relationships.next_offset === 2, 'paged relationships');
expect((await call('list_relationships', { entity_id: ada, type: 'PART_OF' })).relationships[0].fields.role === 'author', 'relationship fields');
const related = await call('retrieve_related_entities', { entity_id: ada, direction: 'outgoing', hops: 3 });
expect(related.related.map((r) => r.entity.id).join() === [noteG, company, babbage].join(), 'a three-hop walk, nearest first');
expect((await call('retrieve_related_entities', { entity_id: engine2 })).related.length === 0, 'nothing related');

const timeline = await call('list_timeline_events', { from: '1800-01-01T00:00:00Z', to: '1850-01-01T00:00:00Z', limit: 2 });
expect(timeline.events.length === 2 && timeline.next_offset === 2, 'a paged timeline');
const timelineNext = await call('list_timeline_events', { from: '1800-01-01T00:00:00Z', to: '1850-01-01T00:00:00Z', limit: 2, cursor: timeline.next_cursor });
const eventKey = (e) => `${e.observation_id} ${e.field}`;
expect(timelineNext.events.length > 0 && !timelineNext.events.some((e) => timeline.events.some((f) => eventKey(f) === eventKey(e))), 'a timeline page by cursor');
expect((await call('list_timeline_events', { entity_type: 'company' })).events[0].field === 'founded', 'a company on the timeline');

// A duplicate merged into the original: its name becomes an alias, it points at the target.
const dup = (await call('store', { entities: [{ entity_type: 'person', name: 'A. A. Lovelace', fields: { email: 'ada@example.test' } }] })).entities[0].id;
const merged = await call('merge_entities', { source_entity_id: dup, target_entity_id: ada });
expect(merged.entity.aliases.includes('A. A. Lovelace') && merged.entity.merged_into === null, 'the merged target');
await call('retrieve_entity_snapshot', { entity_id: dup });

const deleted = await call('delete_entity', { entity_id: engine2 });
expect(deleted.deleted === true, 'deleted');
expect((await call('retrieve_entities', { include_deleted: true, entity_type: 'project' })).entities.some((e) => e.deleted), 'a deleted entity listed on request');
expect((await call('restore_entity', { entity_id: engine2 })).deleted === false, 'restored');

// Searches by the index: 300 newer entities put the matches beyond the first walk of the newest 250.
for (let batch = 0; batch < 3; batch++) {
  await call('store', { entities: Array.from({ length: 100 }, (_, i) => ({ entity_type: 'note', name: `Engines filler ${batch * 100 + i}` })) });
}
const lovelaces = await call('retrieve_entities', { search: 'lovelace' });
expect(lovelaces.total === 1 && lovelaces.entities.length === 1 && lovelaces.entities[0].id === ada, 'the index finds the merge target, not the merged duplicate');
// "engines" is in every one of the newest 250, so the index looks up "ltd" alone and checks the whole text.
const ltd = await call('retrieve_entities', { search: 'engines ltd' });
expect(ltd.total === 1 && ltd.entities[0].id === company, 'a two-word search by its rarer word');
await call('delete_entity', { entity_id: engine2 });
expect((await call('retrieve_entities', { search: 'difference engine' })).total === 0, 'a deleted entity not found by the index');
const withDeleted = await call('retrieve_entities', { search: 'difference engine', include_deleted: true });
expect(withDeleted.total === 1 && withDeleted.entities[0].deleted === true, 'a deleted entity found by the index on request');

const missing = tools.map((t) => t.name).filter((name) => !called.has(name));
if (missing.length > 0) throw new Error(`tools not called: ${missing.join(', ')}`);
console.log(`RESULT_CONTRACT ${JSON.stringify({ client: v2 ? '@modelcontextprotocol/client' : '@modelcontextprotocol/sdk', tools: tools.length, calls: [...called.values()].reduce((a, b) => a + b, 0) })}`);
await client.close();
process.exit(0);
