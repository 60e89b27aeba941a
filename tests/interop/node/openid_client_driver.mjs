// openid-client v6 as a relying party, driven one step at a time by tests/interop.
//
// A web app using openid-client keeps the PKCE verifier, state and nonce in its session between
// sending the user to the provider and handling the callback. This script does the same with two
// commands; the "session" is the JSON the test hands back to the second one:
//
//   node openid_client_driver.mjs start   < {"issuer", "client_id", "redirect_uri", "scope",
//                                            "extra": {more authorization request parameters}}
//     discovery, randomPKCECodeVerifier + calculatePKCECodeChallenge, randomState, randomNonce,
//     buildAuthorizationUrl; prints {"url", "state", "nonce", "code_verifier", "metadata"}.
//   node openid_client_driver.mjs finish  < {... the start input, "callback", "state", "nonce",
//                                            "code_verifier"}
//     authorizationCodeGrant (checks state and RFC 9207 iss in the callback, exchanges the code
//     with the verifier, validates the id_token's claims and, with enableNonRepudiationChecks,
//     its signature against the JWKS), fetchUserInfo (with the expected subject),
//     refreshTokenGrant, fetchUserInfo again, then the spent refresh token once more;
//     prints {"ok": true, "steps": {...}}.
//
// A refusal (an OAuth error response or a failed check) prints {"ok": false, "error": {...}}
// and exits 0: the test decides whether it was expected. Anything else exits non-zero.
// Plain http is allowed with allowInsecureRequests, and only for loopback issuers.
import * as client from 'openid-client';

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function describe(err) {
  // openid-client wraps oauth4webapi's errors; the cause says which check failed.
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

async function configure(input) {
  const issuer = new URL(input.issuer);
  if (issuer.protocol === 'http:' && !['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error('plain http is allowed for loopback issuers only');
  }
  const execute = issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    issuer, input.client_id, undefined, client.None(), { execute, timeout: 10 });
  client.enableNonRepudiationChecks(config); // verify id_token signatures against the JWKS
  return config;
}

async function start(input) {
  const config = await configure(input);
  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: input.redirect_uri,
    scope: input.scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...input.extra, // e.g. prompt
  });
  return { url: url.href, state, nonce, code_verifier: codeVerifier,
           code_challenge: codeChallenge, metadata: config.serverMetadata() };
}

function tokenSummary(tokens) {
  return {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    token_type: tokens.token_type,
    expires_in: tokens.expiresIn(),
    scope: tokens.scope,
    claims: tokens.claims() ?? null,
  };
}

async function finish(input) {
  const config = await configure(input);
  const steps = {};
  const grant = await client.authorizationCodeGrant(config, new URL(input.callback), {
    pkceCodeVerifier: input.code_verifier,
    expectedState: input.state,
    expectedNonce: input.nonce,
    idTokenExpected: true,
  });
  steps.code = tokenSummary(grant);
  const { sub } = grant.claims();
  steps.userinfo = await client.fetchUserInfo(config, grant.access_token, sub);
  const refreshed = await client.refreshTokenGrant(config, grant.refresh_token);
  steps.refresh = tokenSummary(refreshed);
  steps.userinfo_after_refresh = await client.fetchUserInfo(config, refreshed.access_token, sub);
  try {
    await client.refreshTokenGrant(config, grant.refresh_token);
    steps.reused_refresh_token = { refused: false };
  } catch (err) {
    steps.reused_refresh_token = { refused: true, ...describe(err) };
  }
  return { ok: true, steps };
}

const commands = { start, finish };
const command = commands[process.argv[2]];
if (!command) {
  console.error(`usage: node openid_client_driver.mjs ${Object.keys(commands).join('|')} < input.json`);
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
