// node-oidc-provider 9 as a peer authorization server for proofkey's SDK tests.
//
// It listens on 127.0.0.1 at a port the OS picks (or --port), then prints one JSON line
// {"issuer": "http://127.0.0.1:<port>", "pid": ...} on stdout so the test suite knows where it
// is. Configuration, kept close to what a production deployment of oidc-provider would use:
// - one public native client (token_endpoint_auth_method none, application_type native) whose
//   registered loopback redirect URI http://127.0.0.1/callback matches any port (RFC 8252 §7.3);
// - PKCE required for every client (oidc-provider 9 accepts only S256);
// - PAR on (the default in oidc-provider 9), revocation and introspection on;
// - a refresh token for every code exchange of a client allowed the refresh_token grant, rotated
//   on every use; RS256 id_tokens, an ES256 key in the JWKS as well;
// - DPoP (RFC 9449) on, as it is by default in oidc-provider 9; --dpop-require-nonce makes
//   every DPoP proof carry a server nonce (features.dPoP.requireNonce, use_dpop_nonce);
// - no devInteractions: the interaction pages below are a minimal login form that checks one
//   fixed user's password and a consent form (allow or deny). The pages are plain HTML forms
//   (<form method="post" action="...">) so a test can drive them over HTTP; the interaction
//   cookie oidc-provider sets binds them to the browser (test pages: no CSRF token of their own).
//
// Usage: node oidc_provider_server.mjs [--port 0] [--client-id sdk-client]
//        [--username ada] [--password "..."] [--sub ...] [--trailing-slash]
//        [--dpop-require-nonce]
//        [--web-client-id ID --web-client-secret SECRET --web-redirect-uri URI]
// The --web-client-* options add a confidential web client (client_secret_basic), as a
// Backend-for-Frontend gateway registers.
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string', default: 'sdk-client' },
    username: { type: 'string', default: 'ada' },
    password: { type: 'string', default: 'analytical engine 1843' },
    sub: { type: 'string', default: 'ada-lovelace-1815' },
    'trailing-slash': { type: 'boolean', default: false },
    'dpop-require-nonce': { type: 'boolean', default: false },
    'web-client-id': { type: 'string' },
    'web-client-secret': { type: 'string' },
    'web-redirect-uri': { type: 'string' },
  },
});

const USER = {
  sub: args.sub,
  username: args.username,
  passwordDigest: createHash('sha256').update(args.password).digest(),
  claims: {
    name: 'Ada Lovelace',
    preferred_username: args.username,
    email: `${args.username}@example.com`,
    email_verified: true,
  },
};

function passwordMatches(username, password) {
  const digest = createHash('sha256').update(String(password ?? '')).digest();
  return username === USER.username && timingSafeEqual(digest, USER.passwordDigest);
}

function jwk(type, options, extra) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), ...extra };
}

function webClients() {
  if (!args['web-client-id']) return [];
  return [{
    client_id: args['web-client-id'],
    client_secret: args['web-client-secret'],
    client_name: 'a confidential web client (test)',
    application_type: 'web',
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [args['web-redirect-uri']],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }];
}

function configuration() {
  return {
    clients: [{
      client_id: args['client-id'],
      client_name: 'proofkey SDK (test)',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      redirect_uris: ['http://127.0.0.1/callback'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }, ...webClients()],
    jwks: {
      keys: [
        jwk('rsa', { modulusLength: 2048 }, { use: 'sig', alg: 'RS256', kid: 'rs256-test' }),
        jwk('ec', { namedCurve: 'P-256' }, { use: 'sig', alg: 'ES256', kid: 'es256-test' }),
      ],
    },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    findAccount: async (_ctx, sub) => (sub === USER.sub
      ? { accountId: sub, claims: async () => ({ sub, ...USER.claims }) }
      : undefined),
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      dPoP: args['dpop-require-nonce']
        ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
        : { enabled: true },
      pushedAuthorizationRequests: { enabled: true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      introspection: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      RefreshToken: 3600,
      Grant: 3600,
      Session: 3600,
    },
  };
}

// -- the interaction pages ------------------------------------------------------------------

const escape = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8">`
    + `<title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Frame-Options': 'DENY',
  });
  res.end(html);
}

async function formBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function consent(provider, details) {
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  return { consent: details.grantId ? {} : { grantId } };
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    page(res, 400, 'Interaction mismatch', '<p>This page belongs to another sign-in.</p>');
    return;
  }
  const { prompt } = details;
  const base = `/interaction/${escape(uid)}`;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      page(res, 200, 'Sign in', `<form method="post" action="${base}/login">`
        + '<label>Username <input name="username" autocomplete="username"></label>'
        + '<label>Password <input type="password" name="password"></label>'
        + '<button type="submit">Sign in</button></form>');
    } else {
      const scopes = escape(details.params.scope ?? '');
      page(res, 200, 'Authorize', `<p>${escape(details.params.client_id)} asks for: ${scopes}</p>`
        + `<form method="post" action="${base}/confirm">`
        + '<button type="submit" name="decision" value="allow">Allow</button>'
        + '<button type="submit" name="decision" value="deny">Deny</button></form>');
    }
    return;
  }
  const form = await formBody(req);
  let result;
  if (action === 'login' && prompt.name === 'login') {
    if (!passwordMatches(form.get('username'), form.get('password'))) {
      page(res, 401, 'Sign in failed', '<p>Wrong username or password.</p>');
      return;
    }
    result = { login: { accountId: USER.sub } };
  } else if (action === 'confirm' && prompt.name === 'consent') {
    result = form.get('decision') === 'allow'
      ? await consent(provider, details)
      : { error: 'access_denied', error_description: 'the user denied the request' };
  } else {
    page(res, 400, 'Unexpected step', `<p>The sign-in is at "${escape(prompt.name)}".</p>`);
    return;
  }
  await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
}

const INTERACTION = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/;

// -- start ----------------------------------------------------------------------------------

const server = createServer();
server.listen(Number(args.port), '127.0.0.1', () => {
  const { port } = server.address();
  // Some providers' issuers end in a slash (Auth0's do); --trailing-slash serves one like that.
  const issuer = `http://127.0.0.1:${port}${args['trailing-slash'] ? '/' : ''}`;
  const provider = new Provider(issuer, configuration());
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    const match = INTERACTION.exec(new URL(req.url, issuer).pathname);
    const allowed = match && (req.method === 'GET' ? !match[2] : req.method === 'POST' && match[2]);
    if (!allowed) {
      handle(req, res);
      return;
    }
    interaction(provider, req, res, match[1], match[2]).catch((err) => {
      console.error('interaction failed', err);
      if (!res.headersSent) page(res, 400, 'Sign-in error', `<p>${escape(err.message)}</p>`);
    });
  });
  console.log(JSON.stringify({ issuer, pid: process.pid }));
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
