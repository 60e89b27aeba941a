// node-oidc-provider 9 as a benchmark peer for bench/run.py.
//
// Configured to do the same work per token exchange as proofkey: PKCE (S256) required for every
// client, one public client with the benchmark's client id and redirect URI, ES256 JWT access
// tokens (RFC 9068, through a default resource indicator), RS256 id_tokens, a refresh token on
// every code exchange and refresh-token rotation; and a second public client, alike but for
// ES256 id_tokens (the `openid-es256` variant). It keeps its state in memory, in an adapter
// defined below (the bundled one holds only 1,000 entries).
// Login uses devInteractions (any username; no password check), which is enough to establish a
// session and a remembered consent (grant) for the flows under test.
// The client_credentials grant is on for a third, confidential client (client_secret_basic,
// its secret from the environment variable BENCH_CC_SECRET; absent: no such client), which gets
// the same ES256 JWT access token for the default resource.
//
// Usage: node server.js --port 18402 [--client-id bench-client] [--es-client-id ID] [--redirect-uri URI]
//        [--cc-client-id bench-cc]
import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '18402' },
    'client-id': { type: 'string', default: 'bench-client' },
    'es-client-id': { type: 'string', default: 'bench-client-es256' },
    'redirect-uri': { type: 'string', default: 'https://bench.proofkey.test/cb' },
    'cc-client-id': { type: 'string', default: 'bench-cc' },
  },
});
const port = Number(args.port);
const issuer = `http://127.0.0.1:${port}`;
const resource = 'urn:proofkey-bench:api';

// The in-memory store. The bundled MemoryAdapter keeps at most 1,000 entries (an LRU), which
// drops pre-minted codes, and re-scans a grant's whole member list on every insert (every code
// and token of the one benchmark session share the remembered-consent grant, so that cost grows
// without bound during a run). This adapter has the same interface and semantics with O(1)
// operations: entries expire by TTL (swept once a minute), grants index their members.
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);
const store = new Map(); // key -> { value, expiry (ms) }
const grantMembers = new Map(); // grantId -> Set of keys

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.expiry !== undefined && entry.expiry <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.value;
}

class BenchAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const expiry = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : undefined;
    store.set(key, { value: payload, expiry });
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, { value: id, expiry });
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { value: id, expiry });
    if (GRANTABLE.has(this.model) && payload.grantId) {
      let members = grantMembers.get(payload.grantId);
      if (!members) grantMembers.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
  }

  async find(id) { return live(this.key(id)); }

  async findByUid(uid) {
    const id = live(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = live(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = live(key);
    store.delete(key);
    if (payload?.grantId) grantMembers.get(payload.grantId)?.delete(key);
  }

  async revokeByGrantId(grantId) {
    const members = grantMembers.get(grantId);
    if (!members) return;
    for (const key of members) store.delete(key);
    grantMembers.delete(grantId);
  }
}

setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of store) {
    if (entry.expiry !== undefined && entry.expiry <= now) {
      store.delete(key);
      if (entry.value?.grantId) grantMembers.get(entry.value.grantId)?.delete(key);
    }
  }
}, 60_000).unref();

function jwk(type, options, extra) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), ...extra };
}

const ccSecret = process.env.BENCH_CC_SECRET;
const ccClients = ccSecret ? [{
  client_id: args['cc-client-id'],
  client_secret: ccSecret,
  token_endpoint_auth_method: 'client_secret_basic',
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
}] : [];

const configuration = {
  adapter: BenchAdapter,
  clients: [...[args['client-id'], args['es-client-id']].map((clientId, i) => ({
    client_id: clientId,
    token_endpoint_auth_method: 'none',
    redirect_uris: [args['redirect-uri']],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    application_type: 'web',
    // The second client takes ES256 id_tokens (the RS256 default otherwise).
    ...(i === 1 ? { id_token_signed_response_alg: 'ES256' } : {}),
  })), ...ccClients],
  jwks: {
    keys: [
      jwk('rsa', { modulusLength: 2048 }, { use: 'sig', alg: 'RS256', kid: 'rs256' }),
      jwk('ec', { namedCurve: 'P-256' }, { use: 'sig', alg: 'ES256', kid: 'es256' }),
    ],
  },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => resource,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'api',
        audience: resource,
        accessTokenTTL: 600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AuthorizationCode: 600,
    AccessToken: 600,
    IdToken: 600,
    RefreshToken: 14 * 24 * 3600,
    Grant: 30 * 24 * 3600,
    Session: 8 * 3600,
    Interaction: 600,
  },
  cookies: { keys: ['proofkey-bench-cookie-key-not-a-secret'] },
  // Quiet: no stack traces printed per request.
  renderError: async (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
};

const provider = new Provider(issuer, configuration);
provider.on('server_error', (_ctx, err) => { console.error('server_error', err); });
if (process.env.BENCH_DEBUG) provider.on('grant.error', (_ctx, err) => { console.error('grant.error', err.error_detail); });
provider.listen(port, '127.0.0.1', () => {
  console.log(`node-oidc-provider listening on ${issuer}`);
});
