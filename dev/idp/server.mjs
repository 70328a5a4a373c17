// A real, certified OpenID provider (oidc-provider) for local runs and tests of Neotoma.
// Development only: in-memory storage, development signing keys, and a sign-in form that
// accepts any login with any password (the login becomes the user's `sub`).
//
// Settings (environment):
//   IDP_PORT            port to listen on (127.0.0.1 only)                 default 9400
//   IDP_ISSUER          issuer URL                                          default http://localhost:$IDP_PORT
//   IDP_CLIENT_ID       the one client Neotoma uses                         default neotoma-local
//   IDP_CLIENT_SECRET   its secret (client_secret_post)                     default neotoma-local-secret
//   IDP_REDIRECT_URIS   comma-separated redirect URIs of that client        default http://localhost:8080/api/mcp/oauth/callback
//   IDP_ACCESS_TOKEN_TTL seconds an upstream access token lives             default 3600
//   IDP_ENABLE_REGISTRATION  1: open dynamic client registration at /reg  default off
//   IDP_DEV_CONTROLS    1: POST /__dev/quirks {"tokenOutage":bool,"expiresInAsString":bool} makes the
//                       token endpoint misbehave as real providers sometimes do (tests only); POST
//                       /__dev/id-jag {"header":{...},"claims":{...}} signs any ID-JAG with the provider's
//                       key, so tests can present bad ones (tests only)                       default off
//   IDP_ENTERPRISE_CLIENTS  JSON array: clients of the organization's apps (MCP clients) that may exchange
//                       their ID token for an ID-JAG (RFC 8693 token exchange, enterprise-managed
//                       authorization), and the policy for each audience (an MCP authorization server):
//                       [{"client_id","client_secret","redirect_uris":[...],
//                         "audiences":{"<issuer of the MCP AS>":{"client_id":"<its id there>","scopes":["neotoma:read",...],
//                                                                "users":["login",...] (optional: else everyone)}}}]
//                                                                                       default none
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.IDP_PORT ?? 9400);
const issuer = process.env.IDP_ISSUER ?? `http://localhost:${port}`;
const redirectUris = (process.env.IDP_REDIRECT_URIS ?? 'http://localhost:8080/api/mcp/oauth/callback')
  .split(',').map((uri) => uri.trim()).filter(Boolean);

// A fresh signing key on every start, as a provider that rotates its keys: a restarted dev
// provider signs with a key id Neotoma has not seen, which it must fetch (OIDC Core §10.1.1).
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(), alg: 'RS256', use: 'sig',
};

const enterpriseClients = JSON.parse(process.env.IDP_ENTERPRISE_CLIENTS ?? '[]');
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ID_JAG = 'urn:ietf:params:oauth:token-type:id-jag';
const ID_TOKEN = 'urn:ietf:params:oauth:token-type:id_token';

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [...enterpriseClients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    client_name: client.client_id,
    redirect_uris: client.redirect_uris,
    grant_types: ['authorization_code', TOKEN_EXCHANGE],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  })), {
    client_id: process.env.IDP_CLIENT_ID ?? 'neotoma-local',
    client_secret: process.env.IDP_CLIENT_SECRET ?? 'neotoma-local-secret',
    client_name: 'Neotoma (local)',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@example.test`, email_verified: true, name: id };
      },
    };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    // Lets the tests ask whether a token Neotoma holds is still live here, without spending it.
    introspection: { enabled: true },
    registration: { enabled: process.env.IDP_ENABLE_REGISTRATION === '1' },
  },
  pkce: { required: () => true },
  // Refresh tokens whenever the client may use them, as Entra ID and Supabase do with
  // offline_access; the default also demands prompt=consent on every sign-in.
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  ttl: {
    AccessToken: Number(process.env.IDP_ACCESS_TOKEN_TTL ?? 3600),
    IdToken: 3600,
    AuthorizationCode: 60,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 600,
    Session: 3600,
    Grant: 14 * 24 * 3600,
  },
  rotateRefreshToken: true,
});
provider.proxy = false;

// A JWT signed RS256 with the provider's own key: what an ID-JAG is. Signed here with node:crypto (a JWS is
// two base64url parts and a signature), so the dev provider needs no package beyond oidc-provider.
const privateKey = createPrivateKey({ key: signingKey, format: 'jwk' });
const base64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function signJwt(header, claims) {
  const input = `${base64url({ alg: 'RS256', kid: signingKey.kid, ...header })}.${base64url(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

// RFC 8693 token exchange issuing ID-JAGs (draft-ietf-oauth-identity-assertion-authz-grant §4.3):
// oidc-provider has no token exchange, so it is a custom grant type. The organization's policy is
// IDP_ENTERPRISE_CLIENTS: which of its clients may get an ID-JAG for which audience, under which client_id
// there, with which scopes at most, and for which people. The subject token is an ID token this provider
// issued to the requesting client.
provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { client, params } = ctx.oidc;
  if (params.requested_token_type !== ID_JAG) {
    throw new errors.InvalidRequest(`requested_token_type must be ${ID_JAG}`);
  }
  if (params.subject_token_type !== ID_TOKEN) {
    throw new errors.InvalidRequest(`subject_token_type must be ${ID_TOKEN}`);
  }
  let idToken;
  try {
    idToken = await provider.IdToken.validate(params.subject_token, client);
  } catch {
    throw new errors.InvalidGrant('subject_token is not an ID token this provider issued to this client');
  }
  const { sub, exp } = idToken.payload;
  if (exp * 1000 < Date.now()) {
    throw new errors.InvalidGrant('subject_token expired; sign in again');
  }
  const policy = enterpriseClients.find((c) => c.client_id === client.clientId)?.audiences?.[params.audience];
  if (!policy) {
    throw new errors.InvalidTarget('this client may not get an ID-JAG for that audience');
  }
  if (policy.users && !policy.users.includes(sub)) {
    throw new errors.AccessDenied('the organization does not allow this person to use that application');
  }
  const asked = (params.scope ?? '').split(' ').filter(Boolean);
  const scope = (asked.length ? asked : policy.scopes).filter((s) => policy.scopes.includes(s));
  if (!scope.length) {
    throw new errors.InvalidScope('none of the requested scopes may be granted');
  }
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: issuer, sub, aud: params.audience, client_id: policy.client_id, jti: randomUUID(),
    iat: now, exp: now + 300, scope: scope.join(' '), auth_time: idToken.payload.auth_time,
  };
  if (params.resource) {
    claims.resource = params.resource;
  }
  ctx.body = {
    access_token: signJwt({ typ: 'oauth-id-jag+jwt' }, claims),
    issued_token_type: ID_JAG,
    token_type: 'N_A',
    expires_in: 300,
    scope: claims.scope,
  };
}, ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'resource', 'scope']);

// The dev sign-in pages import a web font from a third-party host and the browser asks for a
// favicon the provider does not have. Nothing here can reach the host, and a browser test fails
// on every console error, so the pages are served without the font and the favicon is empty.
const quirks = { tokenOutage: false, revocationOutage: false, expiresInAsString: false };
provider.use(async (ctx, next) => {
  if (ctx.path === '/favicon.ico') {
    ctx.status = 204;
    return;
  }
  if (process.env.IDP_DEV_CONTROLS === '1' && ctx.path === '/__dev/quirks' && ctx.method === 'POST') {
    const body = await new Promise((resolve) => {
      let text = '';
      ctx.req.on('data', (chunk) => { text += chunk; });
      ctx.req.on('end', () => resolve(text));
    });
    Object.assign(quirks, JSON.parse(body || '{}'));
    ctx.body = quirks;
    return;
  }
  if (process.env.IDP_DEV_CONTROLS === '1' && ctx.path === '/__dev/id-jag' && ctx.method === 'POST') {
    const body = await new Promise((resolve) => {
      let text = '';
      ctx.req.on('data', (chunk) => { text += chunk; });
      ctx.req.on('end', () => resolve(text));
    });
    const { header = {}, claims = {} } = JSON.parse(body || '{}');
    ctx.body = { assertion: signJwt({ typ: 'oauth-id-jag+jwt', ...header }, claims) };
    return;
  }
  if ((ctx.path === '/token' && quirks.tokenOutage) || (ctx.path === '/token/revocation' && quirks.revocationOutage)) {
    ctx.status = 503;
    ctx.body = { error: 'temporarily_unavailable', error_description: 'maintenance' };
    return;
  }
  await next();
  if (ctx.path === '/token' && quirks.expiresInAsString && ctx.body?.expires_in !== undefined) {
    ctx.body = { ...ctx.body, expires_in: String(ctx.body.expires_in) };
  }
  if (typeof ctx.body === 'string' && ctx.type === 'text/html') {
    ctx.body = ctx.body.replace(/@import url\(https:\/\/fonts\.googleapis\.com[^)]*\);/g, '');
  }
});

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`dev OpenID provider ${issuer} listening on 127.0.0.1:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
