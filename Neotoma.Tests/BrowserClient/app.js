// A browser-based MCP client on its own origin, as the MCP authorization spec describes one:
// it is given nothing but the server's URL (?mcp=...), discovers the authorization server from
// the 401, registers itself, sends the person through authorize with PKCE, exchanges the code
// with fetch and calls a tool with the bearer token. Every step is a cross-origin request.
const PROTOCOL = '2025-11-25';
const status = (text) => { document.getElementById('status').textContent = text; };

const base64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

async function json(response, what) {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

// Streamable HTTP: the answer is JSON or an SSE stream whose data line is the JSON-RPC response.
async function rpc(url, token, message) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(url, { method: 'POST', headers, body: JSON.stringify(message) });
  if (!response.ok) return { status: response.status, headers: response.headers };
  const text = await response.text();
  const body = response.headers.get('content-type').startsWith('text/event-stream')
    ? text.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5)).join('')
    : text;
  return { status: response.status, headers: response.headers, body: JSON.parse(body) };
}

const initialize = {
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'browser-client', version: '1.0.0' } },
};

async function start(mcp) {
  status('discovering');
  const probe = await rpc(mcp, null, initialize);
  if (probe.status !== 401) throw new Error(`expected 401 from ${mcp}, got ${probe.status}`);
  const challenge = probe.headers.get('www-authenticate');
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge ?? '')?.[1];
  if (!metadataUrl) throw new Error(`no resource_metadata in WWW-Authenticate: ${challenge}`);
  const discoveryHeaders = { 'mcp-protocol-version': PROTOCOL };
  const resource = await json(await fetch(metadataUrl, { headers: discoveryHeaders }), 'protected resource metadata');
  const issuer = resource.authorization_servers[0];
  const server = await json(await fetch(`${issuer}/.well-known/oauth-authorization-server`, { headers: discoveryHeaders }), 'authorization server metadata');

  status('registering');
  const redirectUri = `${location.origin}/callback`;
  const client = await json(await fetch(server.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Browser MCP client', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none',
    }),
  }), 'registration');

  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challengeBytes = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('flow', JSON.stringify({
    mcp, issuer, tokenEndpoint: server.token_endpoint, clientId: client.client_id, redirectUri, verifier, state, resource: resource.resource,
  }));
  const authorize = new URL(server.authorization_endpoint);
  authorize.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: redirectUri, code_challenge: base64url(challengeBytes),
    code_challenge_method: 'S256', state, resource: resource.resource,
  }).toString();
  status('authorizing');
  location.assign(authorize.toString());
}

async function finish(params) {
  const flow = JSON.parse(sessionStorage.getItem('flow') ?? 'null');
  if (!flow) throw new Error('no sign-in was started in this tab');
  if (params.get('error')) throw new Error(`authorization failed: ${params.get('error')} ${params.get('error_description')}`);
  if (params.get('state') !== flow.state) throw new Error('state does not match');
  if (params.get('iss') !== flow.issuer) throw new Error(`iss ${params.get('iss')} is not ${flow.issuer}`);

  status('exchanging the code');
  const tokens = await json(await fetch(flow.tokenEndpoint, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'authorization_code', code: params.get('code'), redirect_uri: flow.redirectUri, client_id: flow.clientId,
      code_verifier: flow.verifier, resource: flow.resource,
    }),
  }), 'token');

  status('calling a tool');
  const init = await rpc(flow.mcp, tokens.access_token, initialize);
  if (init.status !== 200) throw new Error(`initialize: HTTP ${init.status}`);
  // As hosts do: list the tools, then call one; the page shows the tool's output schema and the whole
  // answer, which the test checks against each other.
  const list = await rpc(flow.mcp, tokens.access_token, { jsonrpc: '2.0', id: 2, method: 'tools/list' });
  if (list.status !== 200 || list.body.error) throw new Error(`tools/list: HTTP ${list.status} ${JSON.stringify(list.body)}`);
  const tool = list.body.result.tools.find((t) => t.name === 'get_authenticated_user');
  const call = await rpc(flow.mcp, tokens.access_token, {
    jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: tool.name, arguments: {} },
  });
  if (call.status !== 200 || call.body.error) throw new Error(`tools/call: HTTP ${call.status} ${JSON.stringify(call.body)}`);
  document.getElementById('result').textContent = call.body.result.content[0].text;
  document.getElementById('schema').textContent = JSON.stringify(tool.outputSchema);
  document.getElementById('answer').textContent = JSON.stringify(call.body.result);
  status('done');
}

const params = new URLSearchParams(location.search);
(location.pathname === '/callback' ? finish(params) : start(params.get('mcp'))).catch((error) => {
  document.getElementById('error').textContent = String(error);
  status('failed');
  console.error(error);
});
