// openid-client v6 authenticating with private_key_jwt (RFC 7523 §2.2), driven by tests/interop.
//
//   node openid_client_private_key_jwt.mjs < {"issuer", "client_id", "private_jwk", "scope"}
//     discovery with PrivateKeyJwt (openid-client signs each assertion itself: aud = the
//     issuer, a fresh jti, a short exp), clientCredentialsGrant, tokenIntrospection,
//     tokenRevocation, tokenIntrospection again; prints {"ok": true, "steps": {...}}.
//
// A refusal prints {"ok": false, "error": {...}} and exits 0: the test decides whether it was
// expected. Plain http is allowed with allowInsecureRequests, and only for loopback issuers.
import * as client from 'openid-client';

async function readInput() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const ALGORITHMS = {
  EC: { name: 'ECDSA', namedCurve: 'P-256' },
  RSA: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
};

async function main() {
  const input = await readInput();
  const issuer = new URL(input.issuer);
  if (issuer.protocol === 'http:' && issuer.hostname !== '127.0.0.1') {
    throw new Error('plain http is allowed for loopback issuers only');
  }
  const jwk = input.private_jwk;
  const key = await crypto.subtle.importKey('jwk', jwk, ALGORITHMS[jwk.kty], false, ['sign']);
  const execute = issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    issuer, input.client_id, undefined, client.PrivateKeyJwt({ key, kid: jwk.kid }),
    { execute, timeout: 10 });
  const steps = {};
  try {
    const tokens = await client.clientCredentialsGrant(config, { scope: input.scope });
    steps.token_type = tokens.token_type;
    steps.introspection = await client.tokenIntrospection(config, tokens.access_token);
    await client.tokenRevocation(config, tokens.access_token);
    steps.revoked = true;
    steps.after = await client.tokenIntrospection(config, tokens.access_token);
  } catch (err) {
    console.log(JSON.stringify({ ok: false, steps, error: {
      name: err?.name, code: err?.code, message: err?.message, error: err?.error,
      error_description: err?.error_description, status: err?.status } }));
    return;
  }
  console.log(JSON.stringify({ ok: true, steps }));
}

main().catch((err) => { console.error(err); process.exit(1); });
