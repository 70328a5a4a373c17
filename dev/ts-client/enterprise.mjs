// Enterprise-managed authorization with the official TypeScript client (v2 client package): the person
// signed in at the organization's IdP already (the test did that and hands over the IdP's ID token); the
// client's CrossAppAccessProvider exchanges it at the IdP for an ID-JAG (RFC 8693) and the ID-JAG at
// Neotoma for an access token (RFC 7523 JWT bearer grant, client_secret_basic), with no browser, then calls
// a tool. Run by the test suite (Neotoma.Tests/OAuth/EnterpriseManagedAuthorizationTests.cs).
//
// usage: IDP_URL=… ID_TOKEN=… IDP_CLIENT_ID=… IDP_CLIENT_SECRET=… CLIENT_ID=… CLIENT_SECRET=… node enterprise.mjs <mcp-url>
import { Client, CrossAppAccessProvider, StreamableHTTPClientTransport, discoverAndRequestJwtAuthGrant } from '@modelcontextprotocol/client';

const mcpUrl = new URL(process.argv[2]);
const env = (name) => process.env[name] ?? (() => { throw new Error(`${name} is required`); })();

const provider = new CrossAppAccessProvider({
  assertion: async (ctx) => {
    const result = await discoverAndRequestJwtAuthGrant({
      idpUrl: env('IDP_URL'),
      audience: ctx.authorizationServerUrl,
      resource: ctx.resourceUrl,
      idToken: env('ID_TOKEN'),
      clientId: env('IDP_CLIENT_ID'),
      clientSecret: env('IDP_CLIENT_SECRET'),
      scope: ctx.scope,
      fetchFn: ctx.fetchFn,
    });
    console.log(`RESULT_ID_JAG_SCOPE ${JSON.stringify(result.scope ?? null)}`);
    return result.jwtAuthGrant;
  },
  clientId: env('CLIENT_ID'),
  clientSecret: env('CLIENT_SECRET'),
  expectedIssuer: new URL(mcpUrl.origin).href.replace(/\/$/, ''),
});

const client = new Client({ name: 'neotoma-enterprise-check', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider }));
const result = await client.callTool({ name: 'get_authenticated_user', arguments: {} });
console.log(`RESULT ${JSON.stringify(result)}`);
console.log(`RESULT_TOKENS ${JSON.stringify({ hasRefreshToken: Boolean(provider.tokens()?.refresh_token), scope: provider.tokens()?.scope })}`);
await client.close();
process.exit(0);
