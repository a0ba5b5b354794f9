// An independent upstream OpenID Connect provider for gatehouse's integration
// tests, built on the npm package `oidc-provider` and kept in memory only.
//
// How a test uses it:
//   1. Spawn `node tests/upstream/provider.mjs` with piped stdin and stdout.
//   2. Wait for the single stdout line `ISSUER http://127.0.0.1:PORT`
//      (a free port; the issuer has no trailing slash).
//   3. Register a client by writing one JSON line to stdin:
//        {"client_id":"...","client_secret":"...","redirect_uris":["..."]}
//      Any other client metadata in the line overrides the defaults below
//      (e.g. "token_endpoint_auth_method":"client_secret_post").
//      Wait for `CLIENT <client_id>` on stdout (or `ERROR <message>`).
//   4. Sign in through the package's built-in development login page: any
//      login works and the password is ignored. Consent is granted
//      automatically, so the test never sees a consent page.
//        login "alice"          -> sub "alice", email "alice@example.org"
//        login "bob@corp.test"  -> sub "bob@corp.test", email "bob@corp.test"
//        login "unverified-..." -> email_verified false
//      email, email_verified and name go into the ID token itself.
//      PKCE (S256) is required; the redirect back carries code, state and iss.
//   5. Stop it with SIGTERM (or SIGKILL). It keeps running if stdin closes.
//
// stdout carries only the lines above; all logging goes to stderr.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

import Provider from 'oidc-provider';

// oidc-provider prints some notices with console.info; keep stdout clean.
console.log = console.error;
console.info = console.error;

const say = (line) => process.stdout.write(`${line}\n`);

// A minimal in-memory adapter. oidc-provider looks clients that are not in the
// static config up through the 'Client' model, so registering a client is an
// upsert into that model's store.
const stores = new Map();
class MapAdapter {
  constructor(model) {
    if (!stores.has(model)) stores.set(model, new Map());
    this.store = stores.get(model);
  }

  async upsert(id, payload) { this.store.set(id, payload); }

  async find(id) { return this.store.get(id); }

  async findByUid(uid) {
    for (const payload of this.store.values()) if (payload.uid === uid) return payload;
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const payload of this.store.values()) if (payload.userCode === userCode) return payload;
    return undefined;
  }

  async consume(id) {
    const payload = this.store.get(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { this.store.delete(id); }

  async revokeByGrantId(grantId) {
    for (const [id, payload] of this.store) if (payload.grantId === grantId) this.store.delete(id);
  }
}

// A fresh RS256 signing key each run; relying parties fetch it from /jwks.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'upstream-test-rs256', alg: 'RS256', use: 'sig' };

// Claims of the login the user typed on the sign-in page.
function claimsFor(login) {
  return {
    sub: login,
    email: login.includes('@') ? login : `${login}@example.org`,
    email_verified: !login.startsWith('unverified'),
    name: `Person ${login}`,
  };
}

const configuration = {
  adapter: MapAdapter,
  jwks: { keys: [signingKey] },
  cookies: { keys: ['upstream-test-cookie-key-1', 'upstream-test-cookie-key-2'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Put scope-requested claims into the ID token too, not only into userinfo.
  conformIdTokenClaims: false,
  // gatehouse always sends PKCE (S256 is the only method offered); insist on it.
  pkce: { required: () => true },
  // The built-in login page (devInteractions) stays on.
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    return { accountId: id, claims: async () => claimsFor(id) };
  },
  // Auto-consent: grant whatever OIDC scopes and claims the request asks for.
  async loadExistingGrant(ctx) {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session.grantIdFor(oidc.client.clientId);
    const grant = (grantId && await oidc.provider.Grant.find(grantId))
      || new oidc.provider.Grant({ accountId: oidc.session.accountId, clientId: oidc.client.clientId });
    grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
    grant.addOIDCClaims([...oidc.requestParamClaims]);
    await grant.save();
    return grant;
  },
};

const clientDefaults = {
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
};

// The issuer needs the port, so the provider is built once the server listens.
let provider;
let handle;
const server = createServer((req, res) => handle(req, res));
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, configuration);
  handle = provider.callback();
  provider.on('server_error', (ctx, err) => console.error('server_error', err));

  // Client registrations, one JSON object a line.
  createInterface({ input: process.stdin }).on('line', async (line) => {
    if (!line.trim()) return;
    try {
      const metadata = { ...clientDefaults, ...JSON.parse(line) };
      await provider.Client.validate(metadata);
      await provider.Client.adapter.upsert(metadata.client_id, metadata);
      say(`CLIENT ${metadata.client_id}`);
    } catch (err) {
      console.error('client registration failed:', err);
      const message = [err.message, err.error_description].filter(Boolean).join(': ');
      say(`ERROR ${message.replace(/\s+/g, ' ')}`);
    }
  });

  say(`ISSUER ${issuer}`);
});

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
