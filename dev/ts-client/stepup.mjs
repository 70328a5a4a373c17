// Step-up with the official TypeScript MCP SDK client: the person connects read-only (the test's
// browser ticks "Read only" on the consent page), a write is answered 403 insufficient_scope, the
// SDK asks for the challenge's scope, the person approves, and the write goes through.
//
// The provider keeps no refresh token: with one, SDK 1.32 answers a 403 by refreshing (which
// cannot widen scope, RFC 6749 §6) and then gives up ("Server returned 403 after trying
// upscoping", typescript-sdk#2255) instead of asking the person.
//
// usage: node stepup.mjs <mcp-url>
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { InMemoryOAuthProvider } from './provider.mjs';

const mcpUrl = new URL(process.argv[2]);
const provider = new InMemoryOAuthProvider({ keepRefreshToken: false });
const client = new Client({ name: 'neotoma-ts-stepup', version: '1.0.0' });
let transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });

/** Runs a call; when the SDK sends the person to authorize, waits for them and runs it again. */
async function withAuthorization(call) {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    await provider.finishAuthorization(transport);
    return await call();
  }
}

try {
  await client.connect(transport);
} catch (error) {
  if (!(error instanceof UnauthorizedError)) throw error;
  await provider.finishAuthorization(transport);
  transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
  await client.connect(transport);
}
const read = await client.callTool({ name: 'get_authenticated_user', arguments: {} });
console.log(`RESULT_READ ${JSON.stringify(read)}`);
const stored = await withAuthorization(() => client.callTool({
  name: 'store',
  arguments: { entities: [{ entity_type: 'company', name: 'Stepped Up Rockets' }] },
}));
console.log(`RESULT_STORED ${JSON.stringify(stored)}`);
await client.close();
process.exit(0);
