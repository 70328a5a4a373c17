// The OAuthClientProvider both scripts use: everything in memory, and the browser played by the
// test suite, which reads `AUTHORIZE <url>` from stdout and writes back the URL the browser was
// finally sent to (the redirect URI with code, state and iss).
import readline from 'node:readline';

export const redirectUrl = 'http://127.0.0.1:8976/callback';
const input = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

export class InMemoryOAuthProvider {
  #client; #tokens; #verifier;
  expectedState = crypto.randomUUID();

  /**
   * keepRefreshToken: false plays a client that keeps only access tokens.
   * clientMetadataUrl: an https URL to identify with (a Client ID Metadata Document) instead of registering.
   */
  constructor({ keepRefreshToken = true, clientMetadataUrl = undefined } = {}) {
    this.keepRefreshToken = keepRefreshToken;
    this.clientMetadataUrl = clientMetadataUrl;
  }
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
  saveTokens(tokens) {
    this.#tokens = this.keepRefreshToken ? tokens : { ...tokens, refresh_token: undefined };
  }
  redirectToAuthorization(url) { console.log(`AUTHORIZE ${url}`); }
  saveCodeVerifier(verifier) { this.#verifier = verifier; }
  codeVerifier() { return this.#verifier; }
  /** Makes the next call present a token the server no longer accepts, so the SDK must refresh. */
  spoilAccessToken() { this.#tokens = { ...this.#tokens, access_token: 'spoiled' }; }

  /** Reads where the browser landed and redeems its code through the transport. */
  async finishAuthorization(transport) {
    const { value: landing } = await input.next();
    const params = new URL(landing).searchParams;
    if (params.get('state') !== this.expectedState) throw new Error('state mismatch');
    await transport.finishAuth(params.get('code'));
  }
}
