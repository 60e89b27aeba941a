// openid-client v6 as the app under `proofkey client-check`: signs in PROOFKEY_TEST_ATTEMPTS
// times and refreshes each sign-in twice, printing "attempt N signed in" or
// "attempt N refused: <why>" per attempt.
//
// openid-client does the checks itself: a fresh PKCE verifier (S256), state and nonce per
// attempt; authorizationCodeGrant checks state, refuses a callback carrying an error and
// checks the RFC 9207 iss (the server advertises authorization_response_iss_parameter_supported);
// its HTTP requests never follow redirects (fetch with redirect: 'manual'). With `--par` it
// pushes every request (buildAuthorizationUrlWithPAR, RFC 9126).
//
// The person is played by the server: run it under `proofkey client-check --auto-approve`, so
// /authorize answers with the redirect back to the app at once. Plain http is allowed with
// allowInsecureRequests, and only for loopback issuers.
import * as client from 'openid-client';

const env = process.env;
const usePar = process.argv.includes('--par');

function why(err) {
  const cause = err?.cause instanceof Error ? err.cause : undefined;
  return [err?.error ?? err?.code, cause?.message ?? err?.message].filter(Boolean).join(': ');
}

async function configure() {
  const issuer = new URL(env.PROOFKEY_TEST_ISSUER);
  if (!['127.0.0.1', '[::1]', 'localhost'].includes(issuer.hostname)) {
    throw new Error('plain http is allowed for loopback issuers only');
  }
  return client.discovery(issuer, env.PROOFKEY_TEST_CLIENT_ID, undefined, client.None(),
                          { execute: [client.allowInsecureRequests], timeout: 10 });
}

async function signInOnce(config) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: env.PROOFKEY_TEST_REDIRECT_URI,
    scope: 'openid profile offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  const url = usePar ? await client.buildAuthorizationUrlWithPAR(config, params)
    : client.buildAuthorizationUrl(config, params);
  const answer = await fetch(url, { redirect: 'manual' }); // --auto-approve: straight back
  const callback = answer.headers.get('location');
  if (!callback) throw new Error(`/authorize answered ${answer.status} without a redirect`);
  const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce,
    idTokenExpected: true,
  });
  let refreshToken = tokens.refresh_token;
  for (let i = 0; i < 2; i += 1) {
    refreshToken = (await client.refreshTokenGrant(config, refreshToken)).refresh_token;
  }
}

const config = await configure();
const attempts = Number(env.PROOFKEY_TEST_ATTEMPTS ?? '4');
for (let attempt = 1; attempt <= attempts; attempt += 1) {
  try {
    await signInOnce(config);
    console.log(`attempt ${attempt} signed in`);
  } catch (err) {
    if (!(err instanceof client.ClientError || err instanceof client.ResponseBodyError
          || err instanceof client.AuthorizationResponseError)) {
      throw err;
    }
    console.log(`attempt ${attempt} refused: ${why(err)}`);
  }
}
