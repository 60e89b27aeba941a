// openid-client v6 as a FAPI 2.0 relying party (no mTLS): PAR + PKCE S256 + DPoP +
// private_key_jwt, driven one step at a time by tests/interop like openid_client_driver.mjs.
//
//   node fapi2_openid_client_driver.mjs start  < {"issuer", "client_id", "redirect_uri",
//                                                  "scope", "client_jwk": {private JWK, ES256}}
//     discovery; a fresh DPoP key pair (ES256); PKCE S256, state, nonce; the pushed
//     authorization request (client authenticated with a private_key_jwt assertion, a DPoP
//     proof binding the code to the key: RFC 9449 §10.1) through buildAuthorizationUrlWithPAR;
//     prints {"url", "state", "nonce", "code_verifier", "dpop_jwk", "metadata", "par_params"}:
//     the URL carries only client_id and request_uri (FAPI 2.0 SP §5.3.3.2).
//   node fapi2_openid_client_driver.mjs finish < {... the start input, "callback", "state",
//                                                  "nonce", "code_verifier", "dpop_jwk"}
//     authorizationCodeGrant (state, iss, code + verifier, private_key_jwt, DPoP proof; id_token
//     checked), fetchUserInfo with the DPoP-bound token, refreshTokenGrant with DPoP, userinfo
//     again; then the access token presented with ANOTHER DPoP key must be refused.
//     Prints {"ok": true, "steps": {...}}.
//
// A refusal prints {"ok": false, "error": {...}} and exits 0; the test decides. Plain http is
// allowed for loopback issuers only. The DPoP private key crosses between the two commands the
// way a web app keeps it in its session; the client's private key comes from the test.
import * as client from 'openid-client';

const ES256 = { name: 'ECDSA', namedCurve: 'P-256' };

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function describe(err) {
  const cause = err?.cause instanceof Error ? err.cause : undefined;
  return {
    name: err?.name,
    code: err?.code,
    message: err?.message,
    cause: cause ? { code: cause.code, message: cause.message } : undefined,
    error: err?.error,
    error_description: err?.error_description,
    status: err?.status,
  };
}

async function importPrivate(jwk) {
  const { d, x, y, crv, kty } = jwk;
  return crypto.subtle.importKey('jwk', { kty, crv, x, y, d }, ES256, false, ['sign']);
}

async function dpopKeyPair(jwk) {
  const { x, y, crv, kty } = jwk;
  return {
    privateKey: await importPrivate(jwk),
    publicKey: await crypto.subtle.importKey('jwk', { kty, crv, x, y }, ES256, true, ['verify']),
  };
}

async function configure(input) {
  const issuer = new URL(input.issuer);
  if (issuer.protocol === 'http:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error('plain http is allowed for loopback issuers only');
  }
  const execute = issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [];
  const key = { key: await importPrivate(input.client_jwk), kid: input.client_jwk.kid };
  const config = await client.discovery(
    issuer, input.client_id, { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt(key), { execute, timeout: 10 });
  client.enableNonRepudiationChecks(config);
  return config;
}

async function start(input) {
  const config = await configure(input);
  const keyPair = await client.randomDPoPKeyPair('ES256', { extractable: true });
  const dpopJwk = await crypto.subtle.exportKey('jwk', keyPair.privateKey);
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  const url = await client.buildAuthorizationUrlWithPAR(
    config, params, { DPoP: client.getDPoPHandle(config, keyPair) });
  return { url: url.href, state, nonce, code_verifier: codeVerifier, dpop_jwk: dpopJwk,
           metadata: config.serverMetadata() };
}

function summary(tokens) {
  return {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn(),
    scope: tokens.scope,
    claims: tokens.claims() ?? null,
  };
}

async function finish(input) {
  const config = await configure(input);
  const dpop = client.getDPoPHandle(config, await dpopKeyPair(input.dpop_jwk));
  const steps = {};
  const grant = await client.authorizationCodeGrant(config, new URL(input.callback), {
    pkceCodeVerifier: input.code_verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  }, undefined, { DPoP: dpop });
  steps.code = summary(grant);
  const { sub } = grant.claims();
  steps.userinfo = await client.fetchUserInfo(config, grant.access_token, sub, { DPoP: dpop });
  const refreshed = await client.refreshTokenGrant(config, grant.refresh_token, undefined,
                                                   { DPoP: dpop });
  steps.refresh = summary(refreshed);
  steps.userinfo_after_refresh = await client.fetchUserInfo(config, refreshed.access_token, sub,
                                                            { DPoP: dpop });
  const stranger = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  try {
    await client.fetchUserInfo(config, refreshed.access_token, sub, { DPoP: stranger });
    steps.other_key = { refused: false };
  } catch (err) {
    steps.other_key = { refused: true, ...describe(err) };
  }
  return { ok: true, steps };
}

const commands = { start, finish };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node fapi2_openid_client_driver.mjs ${Object.keys(commands).join('|')} < input.json`);
  process.exit(2);
}
const input = await readInput();
let output;
try {
  output = await command(input);
} catch (err) {
  if (!(err instanceof client.ClientError || err instanceof client.ResponseBodyError
        || err instanceof client.AuthorizationResponseError
        || err instanceof client.WWWAuthenticateChallengeError)) {
    throw err;
  }
  output = { ok: false, error: describe(err) };
}
process.stdout.write(`${JSON.stringify(output)}\n`);
