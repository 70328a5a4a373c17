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
//                       token endpoint misbehave as real providers sometimes do (tests only)  default off
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider from 'oidc-provider';

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

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [{
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
