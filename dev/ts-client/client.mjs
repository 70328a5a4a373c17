// Connects to Neotoma's /mcp with the official TypeScript MCP SDK client and its OAuthClientProvider,
// knowing nothing but the URL, then stores an entity and
// lists it back. Run by the test suite (Neotoma.Tests/OAuth/TypeScriptSdkClientTests.cs),
// which plays the browser: this script prints `AUTHORIZE <url>`, and reads back the URL the browser
// was finally sent to (the redirect URI with code, state and iss).
//
// usage: [CLIENT_METADATA_URL=https://...] node client.mjs <mcp-url>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { InMemoryOAuthProvider } from './provider.mjs';

const mcpUrl = new URL(process.argv[2]);

// CLIENT_METADATA_URL set: the client identifies with that metadata document instead of registering.
const provider = new InMemoryOAuthProvider({ clientMetadataUrl: process.env.CLIENT_METADATA_URL });
const client = new Client({ name: 'neotoma-ts-check', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await provider.finishAuthorization(transport);
  await client.connect(transport);
}

const first = await client.callTool({ name: 'get_authenticated_user', arguments: {} });
console.log(`RESULT ${JSON.stringify(first)}`);
provider.spoilAccessToken();
const second = await client.callTool({ name: 'get_authenticated_user', arguments: {} });
console.log(`RESULT_AFTER_REFRESH ${JSON.stringify(second)}`);
// The guide's end-to-end check: store facts, then list them back.
const stored = await client.callTool({
  name: 'store',
  arguments: { entities: [{ entity_type: 'company', name: 'Acme Rockets', fields: { city: 'Tucson' } }] },
});
if (stored.isError) throw new Error(`store failed: ${JSON.stringify(stored)}`);
const listed = await client.callTool({ name: 'retrieve_entities', arguments: { entity_type: 'company' } });
console.log(`RESULT_RETRIEVED ${JSON.stringify(listed)}`);
await client.close();
process.exit(0);
