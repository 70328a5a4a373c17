// Connects to Neotoma's /mcp with the official TypeScript MCP SDK client and its OAuthClientProvider,
// knowing nothing but the URL, then stores an entity and
// lists it back. Run by the test suite (Neotoma.Tests/OAuth/TypeScriptSdkClientTests.cs),
// which plays the browser: this script prints `AUTHORIZE <url>`, and reads back the URL the browser
// was finally sent to (the redirect URI with code, state and iss).
//
// usage: node client.mjs <mcp-url>
import readline from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const mcpUrl = new URL(process.argv[2]);
const redirectUrl = 'http://127.0.0.1:8976/callback';
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

class InMemoryOAuthProvider {
  #client; #tokens; #verifier;
  expectedState = crypto.randomUUID();
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK check',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return this.expectedState; }
  clientInformation() { return this.#client; }
  saveClientInformation(client) { this.#client = client; }
  tokens() { return this.#tokens; }
  saveTokens(tokens) { this.#tokens = tokens; }
  redirectToAuthorization(url) { console.log(`AUTHORIZE ${url}`); }
  saveCodeVerifier(verifier) { this.#verifier = verifier; }
  codeVerifier() { return this.#verifier; }
  /** Makes the next call present a token the server no longer accepts, so the SDK must refresh. */
  spoilAccessToken() { this.#tokens = { ...this.#tokens, access_token: 'spoiled' }; }
}

const provider = new InMemoryOAuthProvider();
const client = new Client({ name: 'neotoma-ts-check', version: '1.0.0' });
try {
  await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  const { value: landing } = await input.next();
  const params = new URL(landing).searchParams;
  if (params.get('state') !== provider.expectedState) throw new Error('state mismatch');
  const transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await transport.finishAuth(params.get('code'));
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
